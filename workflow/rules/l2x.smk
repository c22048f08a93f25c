# Task 1: instance-wise feature selection (L2X) with every estimator.
# One black box per dataset and seed; one explainer + approximator per dataset, estimator,
# temperature label (tau0.5; notau for estimators without a temperature) and seed; then the
# merged metrics and the task's figure (its tables come from the results rules). Training
# jobs resume from their last epoch if killed.
from subsetgrad.bench.experiments.l2x.plan import planned_runs

L2X = TASKS.get("l2x", {})
L2X_RUNS = planned_runs(L2X, config["seeds"]) if L2X else []
L2X_DIR = f"{RESULTS}/l2x"


rule l2x_black_box:
    input:
        data=lambda wc: prepared(wc.dataset),
    output:
        model=f"{L2X_DIR}/{{dataset}}/black_box/seed{{seed}}/model.pt",
        metrics=f"{L2X_DIR}/{{dataset}}/black_box/seed{{seed}}/metrics.csv",
        curve=f"{L2X_DIR}/{{dataset}}/black_box/seed{{seed}}/curve.csv",
        provenance=f"{L2X_DIR}/{{dataset}}/black_box/seed{{seed}}/provenance.json",
    log:
        f"{RESULTS}/logs/l2x_black_box_{{dataset}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/l2x_black_box_{{dataset}}_seed{{seed}}.tsv"
    wildcard_constraints:
        dataset=r"[A-Za-z0-9_]+",
        seed=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        gpu=config["gpus_per_job"],
        # one of the gpus x jobs_per_gpu slots that profiles/gpu caps (no GPU, no slot)
        gpu_slots=1 if config["gpus_per_job"] else 0,
    params:
        settings=lambda wc: L2X["settings"][wc.dataset],
        device=config["device"],
    script:
        "../scripts/l2x_black_box.py"


rule l2x_explainer:
    input:
        data=lambda wc: prepared(wc.dataset),
        black_box=rules.l2x_black_box.output.model,
    output:
        explainer=f"{L2X_DIR}/{{dataset}}/{{estimator}}/{{tau}}/seed{{seed}}/explainer.pt",
        metrics=f"{L2X_DIR}/{{dataset}}/{{estimator}}/{{tau}}/seed{{seed}}/metrics.csv",
        curve=f"{L2X_DIR}/{{dataset}}/{{estimator}}/{{tau}}/seed{{seed}}/curve.csv",
        examples=f"{L2X_DIR}/{{dataset}}/{{estimator}}/{{tau}}/seed{{seed}}/examples.html",
        provenance=f"{L2X_DIR}/{{dataset}}/{{estimator}}/{{tau}}/seed{{seed}}/provenance.json",
    log:
        f"{RESULTS}/logs/l2x_explainer_{{dataset}}_{{estimator}}_{{tau}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/l2x_explainer_{{dataset}}_{{estimator}}_{{tau}}_seed{{seed}}.tsv"
    wildcard_constraints:
        dataset=r"[A-Za-z0-9_]+",
        estimator=r"[a-z0-9_]+",
        tau=r"notau|tau[0-9.e+-]+",
        seed=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        gpu=config["gpus_per_job"],
        # one of the gpus x jobs_per_gpu slots that profiles/gpu caps (no GPU, no slot)
        gpu_slots=1 if config["gpus_per_job"] else 0,
    params:
        settings=lambda wc: L2X["settings"][wc.dataset],
        estimator_options=lambda wc: (L2X.get("estimator_options") or {}).get(wc.estimator, {}),
        num_examples=L2X.get("num_examples", 0),
        device=config["device"],
    script:
        "../scripts/l2x_explainer.py"


rule l2x_summary:
    input:
        black_boxes=[
            f"{L2X_DIR}/{dataset}/black_box/seed{seed}/metrics.csv"
            for dataset in L2X.get("datasets", [])
            for seed in config["seeds"]
        ],
        runs=[
            f"{L2X_DIR}/{r['dataset']}/{r['estimator']}/{r['tau']}/seed{r['seed']}/metrics.csv"
            for r in L2X_RUNS
        ],
    output:
        metrics=f"{L2X_DIR}/metrics.csv",
        png=f"{L2X_DIR}/l2x.png",
        pdf=f"{L2X_DIR}/l2x.pdf",
    log:
        f"{RESULTS}/logs/l2x_summary.log",
    benchmark:
        f"{RESULTS}/benchmarks/l2x_summary.tsv"
    conda:
        ENV
    threads: 1
    script:
        "../scripts/l2x_summary.py"


if task_enabled("l2x"):
    TARGETS += [
        rules.l2x_summary.output.metrics,
        rules.l2x_summary.output.png,
    ]

# Task 1 (issue 4): instance-wise feature selection (L2X) with every estimator.
# One black box per dataset and seed; one explainer + approximator per dataset, estimator,
# temperature and seed (tau "none" for estimators without a temperature); then the
# results table and figure. Training jobs resume from their last epoch if killed.
from subsetgrad.experiments.l2x.plan import planned_runs

L2X = TASKS.get("l2x", {})
L2X_RUNS = planned_runs(L2X, config["seeds"]) if L2X else []
L2X_DIR = f"{RESULTS}/l2x"


wildcard_constraints:
    l2x_dataset=r"[A-Za-z0-9_]+",
    l2x_estimator=r"[a-z0-9_]+",
    l2x_tau=r"none|[0-9.e+-]+",
    l2x_seed=r"\d+",


rule l2x_black_box:
    input:
        data=lambda wc: prepared(wc.l2x_dataset),
    output:
        model=f"{L2X_DIR}/{{l2x_dataset}}/black_box/seed{{l2x_seed}}/model.pt",
        metrics=f"{L2X_DIR}/{{l2x_dataset}}/black_box/seed{{l2x_seed}}/metrics.csv",
        curve=f"{L2X_DIR}/{{l2x_dataset}}/black_box/seed{{l2x_seed}}/curve.csv",
        provenance=f"{L2X_DIR}/{{l2x_dataset}}/black_box/seed{{l2x_seed}}/provenance.json",
    params:
        settings=lambda wc: L2X["settings"][wc.l2x_dataset],
        device=config["device"],
    resources:
        gpu=config["gpus_per_job"],
        # one of the gpus x jobs_per_gpu slots that profiles/gpu caps (no GPU, no slot)
        gpu_slots=1 if config["gpus_per_job"] else 0,
    log:
        f"{RESULTS}/logs/l2x_black_box_{{l2x_dataset}}_seed{{l2x_seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/l2x_black_box_{{l2x_dataset}}_seed{{l2x_seed}}.tsv"
    threads: 1
    conda:
        ENV
    script:
        "../scripts/l2x_black_box.py"


rule l2x_explainer:
    input:
        data=lambda wc: prepared(wc.l2x_dataset),
        black_box=rules.l2x_black_box.output.model,
    output:
        explainer=f"{L2X_DIR}/{{l2x_dataset}}/{{l2x_estimator}}/tau{{l2x_tau}}/seed{{l2x_seed}}/explainer.pt",
        metrics=f"{L2X_DIR}/{{l2x_dataset}}/{{l2x_estimator}}/tau{{l2x_tau}}/seed{{l2x_seed}}/metrics.csv",
        curve=f"{L2X_DIR}/{{l2x_dataset}}/{{l2x_estimator}}/tau{{l2x_tau}}/seed{{l2x_seed}}/curve.csv",
        examples=f"{L2X_DIR}/{{l2x_dataset}}/{{l2x_estimator}}/tau{{l2x_tau}}/seed{{l2x_seed}}/examples.html",
        provenance=f"{L2X_DIR}/{{l2x_dataset}}/{{l2x_estimator}}/tau{{l2x_tau}}/seed{{l2x_seed}}/provenance.json",
    params:
        settings=lambda wc: L2X["settings"][wc.l2x_dataset],
        estimator_options=lambda wc: (L2X.get("estimator_options") or {}).get(wc.l2x_estimator, {}),
        num_examples=L2X.get("num_examples", 0),
        device=config["device"],
    resources:
        gpu=config["gpus_per_job"],
        # one of the gpus x jobs_per_gpu slots that profiles/gpu caps (no GPU, no slot)
        gpu_slots=1 if config["gpus_per_job"] else 0,
    log:
        f"{RESULTS}/logs/l2x_explainer_{{l2x_dataset}}_{{l2x_estimator}}_tau{{l2x_tau}}_seed{{l2x_seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/l2x_explainer_{{l2x_dataset}}_{{l2x_estimator}}_tau{{l2x_tau}}_seed{{l2x_seed}}.tsv"
    threads: 1
    conda:
        ENV
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
            f"{L2X_DIR}/{r['dataset']}/{r['estimator']}/tau{r['tau']}/seed{r['seed']}/metrics.csv"
            for r in L2X_RUNS
        ],
    output:
        metrics=f"{L2X_DIR}/metrics.csv",
        csv=f"{L2X_DIR}/summary.csv",
        md=f"{L2X_DIR}/summary.md",
        png=f"{L2X_DIR}/l2x.png",
        pdf=f"{L2X_DIR}/l2x.pdf",
    log:
        f"{RESULTS}/logs/l2x_summary.log",
    benchmark:
        f"{RESULTS}/benchmarks/l2x_summary.tsv"
    threads: 1
    conda:
        ENV
    script:
        "../scripts/l2x_summary.py"


if task_enabled("l2x"):
    TARGETS += [
        rules.l2x_summary.output.md,
        rules.l2x_summary.output.png,
    ]

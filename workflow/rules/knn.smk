# Task 2: deep stochastic k-nearest neighbours with every estimator.
# One training job per dataset x estimator x temperature x seed (estimators without a
# temperature run once, label "notau"), kNN baselines per dataset, then the merged tidy
# metrics and curves with the task's figures (its tables come from report.smk).
from subsetgrad.bench.experiments.knn.plan import baseline_config, checkpoint_path, run_config, run_paths

KNN = f"{RESULTS}/knn"
KNN_RUN = f"{KNN}/{{dataset}}/{{estimator}}/{{tau}}/seed{{seed}}"


rule knn_train:
    input:
        data=lambda wc: prepared(wc.dataset),
    output:
        metrics=f"{KNN_RUN}/metrics.csv",
        curve=f"{KNN_RUN}/curve.csv",
        model=f"{KNN_RUN}/best_model.pt",
        provenance=f"{KNN_RUN}/provenance.json",
    log:
        f"{RESULTS}/logs/knn/train_{{dataset}}_{{estimator}}_{{tau}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/knn/train_{{dataset}}_{{estimator}}_{{tau}}_seed{{seed}}.tsv"
    wildcard_constraints:
        dataset=r"[A-Za-z0-9_]+",
        estimator=r"[a-z_0-9]+",
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
        task=lambda wc: run_config(TASKS["knn"], wc.dataset, wc.estimator),
        device=config["device"],
        # not an output: Snakemake would delete it before a rerun, and a rerun resumes from it
        checkpoint=lambda wc: checkpoint_path(
            f"{KNN}/checkpoints", TASKS["knn"], wc.dataset, wc.estimator, wc.tau, wc.seed
        ),
    script:
        "../scripts/knn_train.py"


rule knn_baselines:
    input:
        data=lambda wc: prepared(wc.dataset),
    output:
        metrics=f"{KNN}/{{dataset}}/baselines/metrics.csv",
        provenance=f"{KNN}/{{dataset}}/baselines/provenance.json",
    log:
        f"{RESULTS}/logs/knn/baselines_{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/knn/baselines_{{dataset}}.tsv"
    wildcard_constraints:
        dataset=r"[A-Za-z0-9_]+",
    conda:
        ENV
    threads: 1
    params:
        task=lambda wc: baseline_config(TASKS["knn"]),
        device=config["device"],
    script:
        "../scripts/knn_baselines.py"


rule knn_summary:
    input:
        runs=run_paths(f"{KNN_RUN}/metrics.csv", TASKS.get("knn"), config["seeds"]),
        curves=run_paths(f"{KNN_RUN}/curve.csv", TASKS.get("knn"), config["seeds"]),
        baselines=[f"{KNN}/{d}/baselines/metrics.csv" for d in TASKS.get("knn", {}).get("datasets", [])],
    output:
        metrics=f"{KNN}/metrics.csv",
        curves=f"{KNN}/curves.csv",
        figure_png=f"{KNN}/accuracy.png",
        figure_pdf=f"{KNN}/accuracy.pdf",
        curves_png=f"{KNN}/curves.png",
    log:
        f"{RESULTS}/logs/knn/summary.log",
    benchmark:
        f"{RESULTS}/benchmarks/knn/summary.tsv"
    conda:
        ENV
    threads: 1
    script:
        "../scripts/knn_summary.py"


if task_enabled("knn"):
    TARGETS += [
        rules.knn_summary.output.metrics,
        rules.knn_summary.output.figure_png,
        rules.knn_summary.output.curves_png,
    ]

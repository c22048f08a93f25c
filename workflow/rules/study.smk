# Estimator study: bias and variance against exact gradients.
# One job per problem n<n>_k<k>_<loss> (every estimator, temperature and seed), then
# the merged metrics and figures over all problems. Metrics: see subsetgrad.bench.experiments.study.

STUDY = TASKS.get("study", {})
STUDY_DATASETS = [
    f"n{STUDY['n']}_k{k}_{loss}" for k in STUDY.get("k", []) for loss in STUDY.get("losses", [])
]


rule study_gradients:
    output:
        metrics=f"{RESULTS}/study/{{dataset}}/metrics.csv",
        provenance=f"{RESULTS}/study/{{dataset}}/provenance.json",
    log:
        f"{RESULTS}/logs/study_gradients_{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/study_gradients_{{dataset}}.tsv"
    wildcard_constraints:
        dataset=r"n\d+_k\d+_[a-z]+",
    conda:
        ENV
    threads: 1
    params:
        task=STUDY,
        seeds=STUDY.get("seeds", config["seeds"]),
        device=config["device"],
    script:
        "../scripts/study_gradients.py"


# The problems' metrics merged into one tidy file, and the study's own figures. Its tables
# (study_bias, study_variance) are built with every other task's by the results rules
# (report.smk, subsetgrad.bench.results.specs); the merged file holds every quantity,
# including those the tables leave out (cross-family bias, noise floor, cost).
rule study_summary:
    input:
        metrics=expand(f"{RESULTS}/study/{{dataset}}/metrics.csv", dataset=STUDY_DATASETS),
    output:
        metrics=f"{RESULTS}/study/metrics.csv",
        temperature_png=f"{RESULTS}/study/bias_variance_vs_temperature.png",
        temperature_pdf=f"{RESULTS}/study/bias_variance_vs_temperature.pdf",
        scatter_png=f"{RESULTS}/study/bias_variance_scatter.png",
        scatter_pdf=f"{RESULTS}/study/bias_variance_scatter.pdf",
    log:
        f"{RESULTS}/logs/study_summary.log",
    benchmark:
        f"{RESULTS}/benchmarks/study_summary.tsv"
    conda:
        ENV
    threads: 1
    script:
        "../scripts/study_summary.py"


if task_enabled("study"):
    TARGETS += [
        rules.study_summary.output.metrics,
        rules.study_summary.output.temperature_png,
        rules.study_summary.output.scatter_png,
    ]

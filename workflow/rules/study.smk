# Estimator study (issue 8): bias and variance against exact gradients.
# One job per problem n<n>_k<k>_<loss> (every estimator, temperature and seed), then
# a table and figures over all problems. Metrics: see subsetgrad.experiments.study.

STUDY = TASKS.get("study", {})
STUDY_DATASETS = [
    f"n{STUDY['n']}_k{k}_{loss}" for k in STUDY.get("k", []) for loss in STUDY.get("losses", [])
]


rule study_gradients:
    output:
        metrics=f"{RESULTS}/study/{{dataset}}/metrics.csv",
        provenance=f"{RESULTS}/study/{{dataset}}/provenance.json",
    wildcard_constraints:
        dataset=r"n\d+_k\d+_[a-z]+",
    params:
        task=STUDY,
        seeds=STUDY.get("seeds", config["seeds"]),
        device=config["device"],
    log:
        f"{RESULTS}/logs/study_gradients_{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/study_gradients_{{dataset}}.tsv"
    threads: 1
    conda:
        ENV
    script:
        "../scripts/study_gradients.py"


rule study_table:
    input:
        metrics=expand(f"{RESULTS}/study/{{dataset}}/metrics.csv", dataset=STUDY_DATASETS),
    output:
        csv=f"{RESULTS}/study/table.csv",
        md=f"{RESULTS}/study/table.md",
    log:
        f"{RESULTS}/logs/study_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/study_table.tsv"
    threads: 1
    conda:
        ENV
    script:
        "../scripts/study_table.py"


rule study_figures:
    input:
        metrics=rules.study_table.input.metrics,
        table=rules.study_table.output.csv,
    output:
        temperature_png=f"{RESULTS}/study/bias_variance_vs_temperature.png",
        temperature_pdf=f"{RESULTS}/study/bias_variance_vs_temperature.pdf",
        scatter_png=f"{RESULTS}/study/bias_variance_scatter.png",
        scatter_pdf=f"{RESULTS}/study/bias_variance_scatter.pdf",
    log:
        f"{RESULTS}/logs/study_figures.log",
    benchmark:
        f"{RESULTS}/benchmarks/study_figures.tsv"
    threads: 1
    conda:
        ENV
    script:
        "../scripts/study_figures.py"


if task_enabled("study"):
    TARGETS += [
        rules.study_table.output.md,
        rules.study_figures.output.temperature_png,
        rules.study_figures.output.scatter_png,
    ]

# The paper's synthetic check (Sec. 4.1): subset distribution of the relaxed sampler.


rule synthetic_sample:
    output:
        distribution=f"{RESULTS}/synthetic/subset_distribution.csv",
        metrics=f"{RESULTS}/synthetic/metrics.csv",
        tv_csv=f"{RESULTS}/synthetic/tv_distance.csv",
        tv_md=f"{RESULTS}/synthetic/tv_distance.md",
        provenance=f"{RESULTS}/synthetic/provenance.json",
    log:
        f"{RESULTS}/logs/synthetic_sample.log",
    benchmark:
        f"{RESULTS}/benchmarks/synthetic_sample.tsv"
    conda:
        ENV
    threads: 1
    params:
        task=TASKS.get("synthetic"),
        seeds=config["seeds"],
    script:
        "../scripts/synthetic_sample.py"


rule synthetic_figure:
    input:
        distribution=rules.synthetic_sample.output.distribution,
    output:
        png=f"{RESULTS}/synthetic/subset_distribution.png",
        pdf=f"{RESULTS}/synthetic/subset_distribution.pdf",
    log:
        f"{RESULTS}/logs/synthetic_figure.log",
    benchmark:
        f"{RESULTS}/benchmarks/synthetic_figure.tsv"
    conda:
        ENV
    threads: 1
    script:
        "../scripts/synthetic_figure.py"


if task_enabled("synthetic"):
    METRICS_FILES["synthetic"] = [rules.synthetic_sample.output.metrics]  # read by the results rules
    TARGETS += [
        rules.synthetic_sample.output.distribution,
        rules.synthetic_sample.output.tv_md,
        rules.synthetic_figure.output.png,
    ]

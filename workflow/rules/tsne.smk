# Task 3: parametric t-SNE by neighbour sub-sequences.
# One training job per (dataset, dim, init, method, seed); pretrained weights are shared
# by every method of a (dataset, dim, seed); untrained references (random projection,
# PCA) per (dataset, dim, seed); then the merged tidy metrics and a 2-d scatter figure per
# dataset and init (the task's tables come from report.smk).
from subsetgrad.bench.experiments.tsne.plan import (
    REFERENCE_NAMES,
    run_paths,
    run_settings,
    task_methods,
    task_seeds,
)

TSNE = TASKS.get("tsne", {})
TSNE_SEEDS = task_seeds(TSNE, config["seeds"])
TSNE_METHODS = task_methods(TSNE)
TSNE_REFERENCES = list(REFERENCE_NAMES)
TSNE_OUT = f"{RESULTS}/tsne"
TSNE_RUN = f"{TSNE_OUT}/runs/{{dataset}}/d{{dim}}/{{init}}/{{method}}/seed{{seed}}"
TSNE_REF = f"{TSNE_OUT}/references/{{dataset}}/d{{dim}}/seed{{seed}}"


rule tsne_pretrain:
    input:
        data=lambda wc: prepared(wc.dataset),
    output:
        weights=f"{TSNE_OUT}/pretrained/{{dataset}}/d{{dim}}/seed{{seed}}.pt",
        history=f"{TSNE_OUT}/pretrained/{{dataset}}/d{{dim}}/seed{{seed}}_history.csv",
    log:
        f"{RESULTS}/logs/tsne/pretrain_{{dataset}}_d{{dim}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tsne/pretrain_{{dataset}}_d{{dim}}_seed{{seed}}.tsv"
    wildcard_constraints:
        dim=r"\d+",
        seed=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        gpu=config["gpus_per_job"],
        # one of the gpus x jobs_per_gpu slots that profiles/gpu caps (no GPU, no slot)
        gpu_slots=1 if config["gpus_per_job"] else 0,
    params:
        # what one run depends on: a changed param reruns it, adding a dataset, a dim or a
        # method does not rerun the others
        task=lambda wc: run_settings(TSNE, wc.dataset),
        device=config["device"],
        checkpoint_dir=f"{TSNE_OUT}/checkpoints",
    script:
        "../scripts/tsne_pretrain.py"


rule tsne_train:
    input:
        data=lambda wc: prepared(wc.dataset),
        pretrained=lambda wc: (
            [f"{TSNE_OUT}/pretrained/{wc.dataset}/d{wc.dim}/seed{wc.seed}.pt"]
            if wc.init == "pretrained"
            else []
        ),
    output:
        metrics=f"{TSNE_RUN}/metrics.csv",
        embedding=f"{TSNE_RUN}/embedding.npz",
        history=f"{TSNE_RUN}/history.csv",
        provenance=f"{TSNE_RUN}/provenance.json",
    log:
        f"{RESULTS}/logs/tsne/train_{{dataset}}_d{{dim}}_{{init}}_{{method}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tsne/train_{{dataset}}_d{{dim}}_{{init}}_{{method}}_seed{{seed}}.tsv"
    wildcard_constraints:
        dim=r"\d+",
        seed=r"\d+",
        init="scratch|pretrained",
        method=r"[A-Za-z0-9_]+",
    conda:
        ENV
    threads: 1
    resources:
        gpu=config["gpus_per_job"],
        # one of the gpus x jobs_per_gpu slots that profiles/gpu caps (no GPU, no slot)
        gpu_slots=1 if config["gpus_per_job"] else 0,
    params:
        # what one run depends on: a changed param reruns it, adding a dataset, a dim or a
        # method does not rerun the others
        task=lambda wc: run_settings(TSNE, wc.dataset),
        device=config["device"],
        checkpoint_dir=f"{TSNE_OUT}/checkpoints",
    script:
        "../scripts/tsne_train.py"


rule tsne_reference:
    input:
        data=lambda wc: prepared(wc.dataset),
    output:
        metrics=f"{TSNE_REF}/metrics.csv",
        embeddings=expand(f"{TSNE_REF}/{{reference}}.npz", reference=TSNE_REFERENCES, allow_missing=True),
        provenance=f"{TSNE_REF}/provenance.json",
    log:
        f"{RESULTS}/logs/tsne/reference_{{dataset}}_d{{dim}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tsne/reference_{{dataset}}_d{{dim}}_seed{{seed}}.tsv"
    wildcard_constraints:
        dim=r"\d+",
        seed=r"\d+",
    conda:
        ENV
    threads: 1
    params:
        references=TSNE_REFERENCES,
    script:
        "../scripts/tsne_reference.py"


rule tsne_summary:
    input:
        runs=run_paths(f"{TSNE_RUN}/metrics.csv", TSNE, config["seeds"]),
        references=run_paths(f"{TSNE_REF}/metrics.csv", TSNE, config["seeds"], references=True),
    output:
        metrics=f"{TSNE_OUT}/metrics.csv",
    log:
        f"{RESULTS}/logs/tsne/summary.log",
    benchmark:
        f"{RESULTS}/benchmarks/tsne/summary.tsv"
    conda:
        ENV
    threads: 1
    script:
        "../scripts/tsne_summary.py"


rule tsne_scatter:
    input:
        runs=expand(
            f"{TSNE_OUT}/runs/{{dataset}}/d2/{{init}}/{{method}}/seed{TSNE_SEEDS[0]}/embedding.npz",
            method=TSNE_METHODS,
            allow_missing=True,
        ),
        references=expand(
            f"{TSNE_OUT}/references/{{dataset}}/d2/seed{TSNE_SEEDS[0]}/{{reference}}.npz",
            reference=TSNE_REFERENCES,
            allow_missing=True,
        ),
    output:
        png=f"{TSNE_OUT}/scatter_{{dataset}}_{{init}}.png",
        pdf=f"{TSNE_OUT}/scatter_{{dataset}}_{{init}}.pdf",
    log:
        f"{RESULTS}/logs/tsne/scatter_{{dataset}}_{{init}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tsne/scatter_{{dataset}}_{{init}}.tsv"
    wildcard_constraints:
        init="scratch|pretrained",
    conda:
        ENV
    threads: 1
    params:
        methods=TSNE_METHODS + TSNE_REFERENCES,
        seed=TSNE_SEEDS[0],
    script:
        "../scripts/tsne_scatter.py"


if task_enabled("tsne"):
    TARGETS += [rules.tsne_summary.output.metrics]
    if 2 in TSNE["dims"]:
        TARGETS += expand(rules.tsne_scatter.output.png, dataset=TSNE["datasets"], init=TSNE["inits"])

# Task 3 (issue 6): parametric t-SNE by neighbour sub-sequences.
# One training job per (dataset, d, init, method, seed); pretrained weights are shared
# by every method of a (dataset, d, seed); untrained references (random projection,
# PCA) per (dataset, d, seed); then one table and a 2-d scatter figure per dataset/init.

TSNE = TASKS.get("tsne", {})
TSNE_SEEDS = TSNE.get("seeds", config["seeds"])
TSNE_METHODS = TSNE.get("methods", []) + TSNE.get("estimators", [])
TSNE_REFERENCES = ["random_projection", "pca"]
TSNE_OUT = f"{RESULTS}/tsne"
TSNE_RUN = f"{TSNE_OUT}/runs/{{dataset}}/d{{dim}}/{{init}}/{{method}}/seed{{seed}}"
TSNE_REF = f"{TSNE_OUT}/references/{{dataset}}/d{{dim}}/seed{{seed}}"
# What one run depends on (params changes trigger reruns: adding a dataset, a d or a method
# must not rerun the others).
TSNE_RUN_SETTINGS = {
    key: value
    for key, value in TSNE.items()
    if key not in ("seeds", "datasets", "dims", "inits", "methods", "estimators", "networks")
}


rule tsne_pretrain:
    input:
        data=lambda wc: prepared(wc.dataset),
    output:
        weights=f"{TSNE_OUT}/pretrained/{{dataset}}/d{{dim}}/seed{{seed}}.pt",
        history=f"{TSNE_OUT}/pretrained/{{dataset}}/d{{dim}}/seed{{seed}}_history.csv",
    wildcard_constraints:
        dim=r"\d+",
        seed=r"\d+",
    params:
        task=lambda wc: {**TSNE_RUN_SETTINGS, "networks": {wc.dataset: TSNE["networks"][wc.dataset]}},
        device=config["device"],
        checkpoint_dir=f"{TSNE_OUT}/checkpoints",
    resources:
        gpu=config["gpus_per_job"],
        # one of the gpus x jobs_per_gpu slots that profiles/gpu caps (no GPU, no slot)
        gpu_slots=1 if config["gpus_per_job"] else 0,
    log:
        f"{RESULTS}/logs/tsne/pretrain_{{dataset}}_d{{dim}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tsne/pretrain_{{dataset}}_d{{dim}}_seed{{seed}}.tsv"
    threads: 1
    conda:
        ENV
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
    wildcard_constraints:
        dim=r"\d+",
        seed=r"\d+",
        init="scratch|pretrained",
        method=r"[A-Za-z0-9_]+",
    params:
        task=lambda wc: {**TSNE_RUN_SETTINGS, "networks": {wc.dataset: TSNE["networks"][wc.dataset]}},
        device=config["device"],
        checkpoint_dir=f"{TSNE_OUT}/checkpoints",
    resources:
        gpu=config["gpus_per_job"],
        # one of the gpus x jobs_per_gpu slots that profiles/gpu caps (no GPU, no slot)
        gpu_slots=1 if config["gpus_per_job"] else 0,
    log:
        f"{RESULTS}/logs/tsne/train_{{dataset}}_d{{dim}}_{{init}}_{{method}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tsne/train_{{dataset}}_d{{dim}}_{{init}}_{{method}}_seed{{seed}}.tsv"
    threads: 1
    conda:
        ENV
    script:
        "../scripts/tsne_train.py"


rule tsne_reference:
    input:
        data=lambda wc: prepared(wc.dataset),
    output:
        metrics=f"{TSNE_REF}/metrics.csv",
        embeddings=expand(f"{TSNE_REF}/{{reference}}.npz", reference=TSNE_REFERENCES, allow_missing=True),
        provenance=f"{TSNE_REF}/provenance.json",
    wildcard_constraints:
        dim=r"\d+",
        seed=r"\d+",
    params:
        references=TSNE_REFERENCES,
    log:
        f"{RESULTS}/logs/tsne/reference_{{dataset}}_d{{dim}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tsne/reference_{{dataset}}_d{{dim}}_seed{{seed}}.tsv"
    threads: 1
    conda:
        ENV
    script:
        "../scripts/tsne_reference.py"


rule tsne_table:
    input:
        runs=expand(f"{TSNE_RUN}/metrics.csv", dataset=TSNE.get("datasets", []),
                    dim=TSNE.get("dims", []), init=TSNE.get("inits", []), method=TSNE_METHODS,
                    seed=TSNE_SEEDS),
        references=expand(f"{TSNE_REF}/metrics.csv", dataset=TSNE.get("datasets", []),
                          dim=TSNE.get("dims", []), seed=TSNE_SEEDS),
    output:
        metrics=f"{TSNE_OUT}/metrics.csv",
        csv=f"{TSNE_OUT}/table.csv",
        md=f"{TSNE_OUT}/table.md",
    log:
        f"{RESULTS}/logs/tsne/table.log",
    benchmark:
        f"{RESULTS}/benchmarks/tsne/table.tsv"
    threads: 1
    conda:
        ENV
    script:
        "../scripts/tsne_table.py"


rule tsne_scatter:
    input:
        runs=expand(f"{TSNE_OUT}/runs/{{dataset}}/d2/{{init}}/{{method}}/seed{TSNE_SEEDS[0]}/embedding.npz",
                    method=TSNE_METHODS, allow_missing=True),
        references=expand(f"{TSNE_OUT}/references/{{dataset}}/d2/seed{TSNE_SEEDS[0]}/{{reference}}.npz",
                          reference=TSNE_REFERENCES, allow_missing=True),
    output:
        png=f"{TSNE_OUT}/scatter_{{dataset}}_{{init}}.png",
        pdf=f"{TSNE_OUT}/scatter_{{dataset}}_{{init}}.pdf",
    wildcard_constraints:
        init="scratch|pretrained",
    params:
        methods=TSNE_METHODS + TSNE_REFERENCES,
        seed=TSNE_SEEDS[0],
    log:
        f"{RESULTS}/logs/tsne/scatter_{{dataset}}_{{init}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tsne/scatter_{{dataset}}_{{init}}.tsv"
    threads: 1
    conda:
        ENV
    script:
        "../scripts/tsne_scatter.py"


if task_enabled("tsne"):
    TARGETS += [rules.tsne_table.output.md, rules.tsne_table.output.csv]
    if 2 in TSNE["dims"]:
        TARGETS += expand(rules.tsne_scatter.output.png, dataset=TSNE["datasets"], init=TSNE["inits"])

# Data layer (issue 3): download -> verify -> prepare, for every dataset.
# Prepared datasets live in <data_dir>/prepared/<dataset>.npz (+ .json sidecar).

rule prepare_dataset:
    output:
        npz=f"{DATA}/prepared/{{dataset}}.npz",
        meta=f"{DATA}/prepared/{{dataset}}.json",
    params:
        raw_dir=lambda wc: f"{DATA}/raw/{wc.dataset}",
        split_seed=config["split_seed"],
    log:
        f"{DATA}/logs/prepare_{{dataset}}.log",
    threads: 1
    conda:
        ENV
    script:
        "../scripts/prepare_dataset.py"

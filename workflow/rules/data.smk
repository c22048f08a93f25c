# Data layer: download -> verify -> prepare, for every dataset.
# Raw files: <data_dir>/raw/<source>/<official name>, downloaded by `download_raw_file` or
# placed there by hand (a manual copy is used as is, without network, and its checksum is
# verified when the dataset is prepared). Prepared datasets: <data_dir>/prepared/<dataset>.npz
# (+ .json sidecar). Plain rules, no storage plugins: `snakemake -n` never touches the network.
# A raw file with a content manifest (the IMDB archive) may instead be present in another form
# in the same folder (an extracted folder, a repacked archive): the prepare rule then reads that
# and no download is planned; it is verified file by file when the dataset is prepared.
# Only raw files absent at parse time have a producing rule: a file that is present (a download
# or a manual copy) is a source file, so a change of this rule's code or of Snakemake's records
# never plans a new download of it (offline machines included).
rule download_raw_file:
    output:
        f"{DATA}/raw/{{raw}}",
    log:
        f"{DATA}/logs/download/{{raw}}.log",
    benchmark:
        f"{DATA}/benchmarks/download/{{raw}}.tsv"
    wildcard_constraints:
        raw=_alternatives(MISSING_RAW_FILES) if MISSING_RAW_FILES else "(?!)",
    # Retries (3 per mirror, with back-off) happen inside the download, so that a file
    # that cannot be fetched at all (offline, no public URL) fails at once.
    localrule: True
    conda:
        ENV
    threads: 1
    params:
        urls=lambda wc: list(raw_file(wc).urls),
        algorithm=lambda wc: raw_file(wc).algorithm,
        checksum=lambda wc: raw_file(wc).checksum,
        note=lambda wc: raw_file(wc).note,
    script:
        "../scripts/download_raw_file.py"


rule prepare_dataset:
    input:
        lambda wc: prepare_inputs(wc.dataset),
    output:
        npz=f"{DATA}/prepared/{{dataset}}.npz",
        meta=f"{DATA}/prepared/{{dataset}}.json",
    log:
        f"{DATA}/logs/prepare_{{dataset}}.log",
    benchmark:
        f"{DATA}/benchmarks/prepare_{{dataset}}.tsv"
    wildcard_constraints:
        dataset=r"[A-Za-z0-9_.-]+",
    conda:
        ENV
    threads: 1
    params:
        raw_dir=lambda wc: dataset_raw_dir(wc.dataset),
        byo=lambda wc: BYO_DATASETS.get(wc.dataset),
        split_seed=config["split_seed"],
    script:
        "../scripts/prepare_dataset.py"


# Explicit targets: `snakemake --cores 1 datasets_paper` fetches and prepares the paper's
# datasets; `datasets_real_small` prepares those built from the shared real files
# (place them first: workflow/scripts/link_shared_data.py); `datasets_declared` the
# bring-your-own entries of the config.
rule datasets_paper:
    input:
        [prepared(d) for d in PAPER_DATASETS],
    localrule: True


rule datasets_real_small:
    input:
        [prepared(d) for d in REAL_SMALL_DATASETS],
    localrule: True


rule datasets_declared:
    input:
        [prepared(d) for d in BYO_DATASETS],
    localrule: True

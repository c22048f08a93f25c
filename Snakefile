# subsetgrad: replication of Xie & Ermon (IJCAI 2019) and a benchmark of k-subset
# gradient estimators. `snakemake --cores all` runs the profile in config/config.yaml;
# `--configfile config/<profile>.yaml` merges another profile over it.
from snakemake.utils import min_version

min_version("9.0")

configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/synthetic.smk"


rule all:
    input:
        all_targets(),
    default_target: True

# subsetgrad: replication of Xie & Ermon (IJCAI 2019) and a benchmark of k-subset
# gradient estimators. `snakemake --cores all` runs the profile in config/config.yaml;
# `--configfile config/<profile>.yaml` merges another profile over it.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/synthetic.smk"
include: "workflow/rules/l2x.smk"
include: "workflow/rules/knn.smk"
include: "workflow/rules/tsne.smk"
include: "workflow/rules/study.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        TARGETS,

"""Every results table (CSV, Markdown, LaTeX, HTML), the Markdown section with all of them,
and the README's headline section (one table per task, a link to the rest)."""

from pathlib import Path

from subsetgrad.bench.workflow_log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

import pandas as pd

from subsetgrad.bench.io import write_text
from subsetgrad.bench.results.specs import HEADLINE_TABLES, build_table, task_of_table
from subsetgrad.bench.results.summary import results_section

metrics = pd.read_csv(snakemake.input.metrics)
out = snakemake.output
sections = []
for i, name in enumerate(snakemake.params.tables):
    table = build_table(name, metrics, snakemake.config)
    table.write(csv=out.csv[i], md=out.md[i], tex=out.tex[i], html_path=out.html[i])
    sections.append((task_of_table(name), table.title, Path(out.md[i])))
    print(f"## {name}\n{table.to_markdown()}")
figures = {task: [Path(p) for p in paths] for task, paths in snakemake.params.figures.items()}
profile = snakemake.config["profile"]
write_text(out.summary, results_section(profile, sections, figures))
document = snakemake.config.get("results_document")
every_table = f"{document}/{profile}.md" if document else f"results/{profile}/results.md"
headline = [section for name, section in zip(snakemake.params.tables, sections) if name in HEADLINE_TABLES]
origin = (
    f"pasted here with `python -m subsetgrad.bench.results.summary results/{profile}/headline.md "
    f"--readme README.md`; every table and figure: [{every_table}]({every_table})"
)
write_text(out.headline, results_section(profile, headline, {}, origin=origin))

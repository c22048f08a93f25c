"""Every results table (CSV, Markdown, LaTeX, HTML) and the README section."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

import pandas as pd

from subsetgrad.io import write_text
from subsetgrad.results.specs import build_table, task_of_table
from subsetgrad.results.summary import results_section

metrics = pd.read_csv(snakemake.input.metrics)
out = snakemake.output
sections = []
for i, name in enumerate(snakemake.params.tables):
    table = build_table(name, metrics, snakemake.config)
    table.write(csv=out.csv[i], md=out.md[i], tex=out.tex[i], html_path=out.html[i])
    sections.append((task_of_table(name), table.title, Path(out.md[i])))
    print(f"## {name}\n{table.to_markdown()}")
figures = {task: [Path(p) for p in paths] for task, paths in snakemake.params.figures.items()}
write_text(out.summary, results_section(snakemake.config["profile"], sections, figures))

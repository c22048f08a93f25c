"""Every task's generic figures: metrics against the temperature, and training curves."""

from subsetgrad.bench.workflow_log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

import pandas as pd

from subsetgrad.bench.results import figures, style
from subsetgrad.bench.results.specs import LABELS, TASK_RESULTS, estimator_ranking

out, params = snakemake.output, snakemake.params
metrics = pd.read_csv(snakemake.input.metrics)
for i, task in enumerate(params.temperature_tasks):
    spec = TASK_RESULTS[task]
    fig = figures.metric_vs_temperature(
        spec.temperature_frame(metrics, snakemake.config),
        spec.temperature_metrics,
        LABELS,
        references=spec.references,
        title=f"{task}: metrics against the temperature",
    )
    style.save(fig, out.temperature[i], out.temperature_pdf[i])
for i, task in enumerate(params.curve_tasks):
    spec = TASK_RESULTS[task]
    curves = figures.read_curves(params.curve_files[task])
    fig = figures.training_curves(
        curves,
        spec.curve_metrics,
        LABELS,
        title=f"{task}: training curves (mean ± std over seeds)",
        share_y=spec.curves_share_y,
    )
    style.save(fig, out.curves[i], out.curves_pdf[i])
    print(f"{task}: {len(params.curve_files[task])} curve file(s)")
if out.ranking:
    ranking = estimator_ranking(metrics, snakemake.config)
    title = "Estimators across every task-dataset cell"
    fig = figures.critical_difference(ranking.result, LABELS, title=title)
    style.save(fig, out.ranking[0], out.ranking_pdf[0])
    print("\n".join(ranking.notes()))

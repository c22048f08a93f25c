"""The committed results document: tables, job wall times, metrics CSV and figures under a byte budget."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from subsetgrad.bench.results.document import job_wall_times, write_results_document


def _png(path: Path, seed: int) -> Path:
    # noise compresses badly, so the byte budget is actually exercised
    fig, ax = plt.subplots(figsize=(8, 6))
    ax.imshow(np.random.default_rng(seed).random((300, 400)))
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def _inputs(tmp_path: Path):
    bench = tmp_path / "results/p/benchmarks"
    (bench / "knn").mkdir(parents=True)
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    (bench / "knn/train_mnist_relaxed_tau1_seed0.tsv").write_text(
        header + "125.5\t0:02:05\t900\t0\t0\t0\t0\t0\t0\t240.0\n"
    )
    (bench / "results_aggregate.tsv").write_text(header + "2.0\t0:00:02\t100\t0\t0\t0\t0\t0\t0\t1.5\n")
    table = tmp_path / "results/p/tables/knn_accuracy.md"
    table.parent.mkdir(parents=True)
    table.write_text("| estimator | MNIST |\n|---|---|\n| relaxed | 99.0 |\n")
    metrics = tmp_path / "results/p/metrics.csv"
    pd.DataFrame({"task": ["knn"], "value": [99.0]}).to_csv(metrics, index=False)
    figures = {"knn": [_png(tmp_path / "results/p/a.png", 0), _png(tmp_path / "results/p/b.png", 1)]}
    return bench, [("knn", "kNN accuracy", table)], figures, metrics


def test_job_wall_times_reads_every_benchmark_file(tmp_path):
    bench, *_ = _inputs(tmp_path)
    times = job_wall_times(bench).set_index("job")
    assert times.loc["knn/train_mnist_relaxed_tau1_seed0", "wall_s"] == 125.5
    assert times.loc["knn/train_mnist_relaxed_tau1_seed0", "cpu_s"] == 240.0
    assert len(times) == 2


def test_document_has_tables_times_metrics_and_linked_figures(tmp_path):
    bench, sections, figures, metrics = _inputs(tmp_path)
    out = tmp_path / "docs/results"
    write_results_document(
        "p", sections, figures, metrics, bench, out / "p.md", out / "p.csv", out / "p", max_image_bytes=2**22
    )
    text = (out / "p.md").read_text()
    assert "| relaxed | 99.0 |" in text
    assert "`knn/train_mnist_relaxed_tau1_seed0` | 126 | 240 |" in text
    assert "](p/a.png)" in text  # links relative to the document
    assert (out / "p.csv").read_text() == metrics.read_text()
    assert sorted(p.name for p in (out / "p").iterdir()) == ["a.png", "b.png"]


def test_figures_beyond_the_byte_budget_are_left_out_and_named(tmp_path):
    bench, sections, figures, metrics = _inputs(tmp_path)
    out = tmp_path / "docs/results"
    write_results_document(
        "p",
        sections,
        {"knn": figures["knn"][:1]},
        metrics,
        bench,
        out / "p.md",
        out / "p.csv",
        out / "p",
        max_image_bytes=2**22,
    )
    single = (out / "p/a.png").stat().st_size
    write_results_document(
        "p",
        sections,
        figures,
        metrics,
        bench,
        out / "p.md",
        out / "p.csv",
        out / "p",
        max_image_bytes=single + single // 2,
    )
    images = list((out / "p").iterdir())
    assert [p.name for p in images] == ["a.png"]
    assert sum(p.stat().st_size for p in images) <= single + single // 2
    assert "left out" in (out / "p.md").read_text() and "b.png" in (out / "p.md").read_text()

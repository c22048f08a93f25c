"""Results tables, aggregation, published numbers and the README paste.

The hand-made metrics below have known means and standard deviations, so every
printed number can be checked against arithmetic done here, not by the code under test.
"""

import math

import pandas as pd
import pytest
from conftest import run_snakemake

from subsetgrad.bench.metrics import METRIC_COLUMNS, write_metrics
from subsetgrad.bench.results import MISSING, collect_metrics, published, summary_table
from subsetgrad.bench.results.aggregate import MetricsFileError, read_metrics
from subsetgrad.bench.results.specs import TASK_RESULTS, build_table, table_names, tsne_frame
from subsetgrad.bench.results.summary import BEGIN, END, paste_between_markers
from subsetgrad.bench.results.tables import NOT_APPLICABLE


def _rows(task, dataset, estimator, tau, values, metric="accuracy", seeds=None):
    seeds = range(len(values)) if seeds is None else seeds
    return [
        {
            "task": task,
            "dataset": dataset,
            "estimator": estimator,
            "tau": tau,
            "k": 2,
            "seed": s,
            "metric": metric,
            "value": v,
        }
        for s, v in zip(seeds, values)
    ]


@pytest.fixture
def hand_made():
    """Estimator A (tau 0.1 and 1), B (no tau); datasets d1, d2; A at tau 1 on d2 never ran,
    B on d2 has one seed only."""
    rows = (
        _rows("t", "d1", "A", 0.1, [0.50, 0.60, 0.70])
        + _rows("t", "d1", "A", 1.0, [0.80, 0.90, 1.00])
        + _rows("t", "d1", "B", math.nan, [0.10, 0.20, 0.30])
        + _rows("t", "d2", "A", 0.1, [0.40, 0.40, 0.40])
        + _rows("t", "d2", "B", math.nan, [0.90])
    )
    return pd.DataFrame(rows)


def _table(frame, **kwargs):
    options = dict(
        name="t",
        title="test",
        rows=["estimator", "tau"],
        columns=["dataset"],
        better="max",
        expected_rows=[("A", 0.1), ("A", 1.0), ("B", math.nan)],
        expected_columns=["d1", "d2"],
    )
    return summary_table(frame, **{**options, **kwargs})


def test_means_stds_and_seed_counts(hand_made):
    table = _table(hand_made)
    cell = table.cell(("A", "1"), "d1")
    assert cell["mean"] == pytest.approx(0.9)
    assert cell["std"] == pytest.approx(0.1)  # sample std (ddof = 1) of 0.8, 0.9, 1.0
    assert cell.n_seeds == 3
    b_d2 = table.cell(("B", NOT_APPLICABLE), "d2")
    assert b_d2.n_seeds == 1 and math.isnan(b_d2["std"])
    text = table.to_markdown()
    assert "| 0.600 ± 0.100 (3) " in text  # A at 0.1 on d1: not the best, not bold
    assert "| 0.200 ± 0.100 (3) " in text
    assert "| **0.900** (1) " in text  # one seed: no ± (its std is undefined)


def test_bold_winner_per_column_max_and_min(hand_made):
    table = _table(hand_made)
    assert table.cells.loc[table.cells.best, ["estimator", "tau", "dataset"]].values.tolist() == [
        ["A", "1", "d1"],
        ["B", NOT_APPLICABLE, "d2"],
    ]
    assert "**0.900 ± 0.100** (3)" in table.to_markdown()
    assert r"\textbf{0.900 $\pm$ 0.100 {\scriptsize (3)}}" in table.to_latex()
    lowest = _table(hand_made, better="min")
    assert sorted(lowest.cells.loc[lowest.cells.best, ["estimator", "dataset"]].values.tolist()) == [
        ["A", "d2"],
        ["B", "d1"],
    ]


def test_missing_run_is_missing_never_zero(hand_made):
    table = _table(hand_made)
    cell = table.cell(("A", "1"), "d2")
    assert cell.n_seeds == 0 and math.isnan(cell["mean"]) and not cell.best
    wide = table.display_frame("markdown")
    row = wide[(wide.estimator == "A") & (wide.tau == "1")].iloc[0]
    assert row["dataset = d2" if "dataset = d2" in wide else "d2"] == MISSING
    csv = table.to_csv_frame()
    missing = csv[(csv.estimator == "A") & (csv.tau == "1") & (csv.dataset == "d2")].iloc[0]
    assert missing.text == MISSING and pd.isna(missing["mean"])
    assert r"\textit{missing}" in table.to_latex()


def test_nan_value_is_missing_and_reported(hand_made):
    frame = hand_made.copy()
    frame.loc[(frame.dataset == "d2") & (frame.estimator == "B"), "value"] = float("nan")
    table = _table(frame)
    assert table.cell(("B", NOT_APPLICABLE), "d2").n_seeds == 0
    assert "1 value(s) were NaN" in table.to_markdown()


def test_expected_row_without_any_run_is_listed_as_missing(hand_made):
    table = _table(hand_made, expected_rows=[("A", 0.1), ("A", 1.0), ("B", math.nan), ("C", math.nan)])
    assert table.cell(("C", NOT_APPLICABLE), "d1").n_seeds == 0
    assert "| C " in table.to_markdown()


def test_ties_at_printed_precision_are_all_bold():
    frame = pd.DataFrame(_rows("t", "d", "A", 1.0, [0.5001]) + _rows("t", "d", "B", 1.0, [0.4999]))
    table = summary_table(
        frame, name="t", title="t", rows=["estimator"], columns=["dataset"], better="max", digits=2
    )
    assert table.cells.best.tolist() == [True, True]


def test_two_values_for_one_seed_are_an_error(hand_made):
    twice = pd.concat([hand_made, hand_made.iloc[:1]])
    with pytest.raises(ValueError, match="share a cell and a seed"):
        _table(twice)


def test_published_rows_are_labelled_and_never_ranked(hand_made):
    reference = pd.DataFrame(
        [
            {
                "method": "Paper",
                "dataset": "d1",
                "value": 0.99,
                "relation": "=",
                "source": "Someone 2020, Table 1",
            }
        ]
    )
    table = _table(hand_made, published=reference)
    pub = table.cells[table.cells.source == "published"]
    assert pub.estimator.tolist() == ["Paper [published]"] and not pub.best.any()
    # the measured winner stays bold although the published number is higher
    assert table.cell(("A", "1"), "d1").best
    text = table.to_markdown()
    assert "Paper [published]" in text and "Someone 2020, Table 1" in text
    # a published row without a number for a column is "not reported", not "missing"
    published_line = next(line for line in text.splitlines() if "Paper [published]" in line)
    assert MISSING not in published_line and NOT_APPLICABLE in published_line


def test_unranked_rows_are_never_bold(hand_made):
    table = _table(hand_made, unranked=["A"])
    assert table.cells.loc[table.cells.best, "estimator"].tolist() == ["B", "B"]


def test_latex_is_booktabs(hand_made):
    tex = _table(hand_made).to_latex()
    for command in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{llrr}"):
        assert command in tex


def test_latex_escapes_text_and_rules_off_published_rows(hand_made):
    reference = pd.DataFrame(
        [{"method": "Chen_2018", "dataset": "d1", "value": 0.85, "relation": "<=", "source": "A & B"}]
    )
    tex = _table(hand_made, published=reference, title="50% of τ_1", notes=["#runs {x}"]).to_latex()
    assert r"\caption{50\% of $\tau$\_1}" in tex and r"\label{tab:t}" in tex
    assert r"\#runs \{x\}" in tex and r"A \& B" in tex
    # the published row opens with a rule and is never bold
    assert "\n" + r"\midrule Chen\_2018 [published] & -- & $\leq$ 0.85 & -- \\" in tex
    assert tex.count(r"\textbf{") == 2


def test_write_tables_writes_four_formats(hand_made, tmp_path):
    table = _table(hand_made)
    table.write(
        csv=tmp_path / "t.csv", md=tmp_path / "t.md", tex=tmp_path / "t.tex", html_path=tmp_path / "t.html"
    )
    assert len(pd.read_csv(tmp_path / "t.csv")) == len(table.cells)
    assert "<b>0.900 ± 0.100</b>" in (tmp_path / "t.html").read_text()


def test_collect_metrics_checks_schema_and_counts_a_row_once(tmp_path, hand_made):
    rows = hand_made.to_dict("records")
    write_metrics(tmp_path / "a" / "metrics.csv", rows)
    write_metrics(tmp_path / "metrics.csv", rows[:3])  # e.g. a task's merged file repeats a run
    merged = collect_metrics([tmp_path / "a" / "metrics.csv", tmp_path / "metrics.csv"])
    assert len(merged) == len(rows)
    assert list(merged.columns) == [*METRIC_COLUMNS, "source"]
    bad = tmp_path / "bad.csv"
    hand_made.drop(columns="seed").to_csv(bad, index=False)
    with pytest.raises(MetricsFileError, match="lacks the column"):
        read_metrics(bad)


def test_published_numbers_and_units():
    l2x = published("l2x", "posthoc_accuracy").set_index("dataset").value
    assert l2x["imdb_word"] == pytest.approx(0.908) and l2x["imdb_sentence"] == pytest.approx(0.849)
    knn = published("knn", "accuracy", unit="fraction")
    raw = knn[(knn.method == "kNN raw pixels") & (knn.dataset == "mnist")].value.item()
    assert raw == pytest.approx(0.972)
    assert set(published("synthetic").relation) == {"<="}


def test_knn_temperature_is_chosen_on_validation_not_test():
    rows = []
    for tau, val, test in [(0.1, 0.9, 0.5), (1.0, 0.8, 0.95)]:
        rows += _rows("knn", "mnist", "relaxed", tau, [val], metric="val_accuracy")
        rows += _rows("knn", "mnist", "relaxed", tau, [test], metric="test_accuracy")
    rows += [
        {
            "task": "knn",
            "dataset": "mnist",
            "estimator": "raw_pixels",
            "tau": math.nan,
            "k": 9,
            "seed": math.nan,
            "metric": "test_accuracy",
            "value": 0.9,
        }
    ]
    config = {
        "tasks": {"knn": {"datasets": ["mnist"], "estimators": ["relaxed"], "temperatures": [0.1, 1.0]}}
    }
    table = build_table("knn_accuracy", pd.DataFrame(rows, columns=list(METRIC_COLUMNS)), config)
    cell = table.cell("relaxed", "mnist")
    assert cell["mean"] == pytest.approx(50.0) and cell.annotation == "τ=0.1"
    assert table.cell("raw_pixels", "mnist").best  # 90.0 > 50.0
    text = table.to_markdown()
    assert "kNN raw pixels [published]" in text and "97.2" in text
    # published numbers of datasets the profile does not run: named in a note, not as columns
    assert "CIFAR-10" in text and "cifar10" not in set(table.cells.dataset)


def test_tsne_dataset_label_is_split():
    frame = pd.DataFrame(
        _rows("tsne", "mnist_d10_pretrained", "ptsne", 0.1, [0.1])
        + _rows("tsne", "digits_d2", "pca", math.nan, [0.2])
    )
    split = tsne_frame(frame)
    assert split[["dataset", "dimension", "init"]].values.tolist() == [
        ["mnist", 10, "pretrained"],
        ["digits", 2, "scratch"],
    ]


def test_every_task_table_builds_from_no_runs():
    """Before any run, every table exists and shows each configured run as missing."""
    config = {
        "tasks": {
            "synthetic": {"weights": [1, 2, 3, 4], "k": 2, "temperatures": [0.1, 1], "num_samples": 100},
            "l2x": {
                "datasets": ["l2x_xor"],
                "estimators": ["relaxed", "reinforce"],
                "temperatures": [1],
                "settings": {"l2x_xor": {"k": 2}},
            },
            "knn": {"datasets": ["mnist"], "estimators": ["relaxed"], "temperatures": [1]},
            "tsne": {
                "datasets": ["digits"],
                "dims": [2],
                "inits": ["scratch"],
                "methods": ["ptsne"],
                "estimators": [],
            },
            "study": {
                "n": 6,
                "k": [3],
                "losses": ["linear"],
                "estimators": ["reinforce"],
                "temperatures": [1],
            },
        }
    }
    empty = pd.DataFrame(columns=list(METRIC_COLUMNS))
    for task in TASK_RESULTS:
        for name in table_names(task):
            table = build_table(name, empty, config)
            measured = table.cells[table.cells.source == "measured"]
            assert (measured.n_seeds == 0).all() and not measured.best.any(), name
            assert table.to_markdown().count(MISSING) >= len(measured), name


def test_paste_between_markers():
    readme = f"# x\n\n{BEGIN}\nold\n{END}\n\ntail\n"
    pasted = paste_between_markers(readme, "| new |\n")
    assert pasted == f"# x\n\n{BEGIN}\n| new |\n{END}\n\ntail\n"
    with pytest.raises(ValueError, match="no results markers"):
        paste_between_markers("# no markers\n", "x")


#: Tasks of the test profile the report test runs: one of each kind of output (tables with
#: published rows, task figures, example pages, training curves) at a few seconds each.
REPORT_TEST_TASKS = ("synthetic", "l2x", "knn", "study")


def _merged(base: dict, over: dict) -> dict:
    """``over`` merged into ``base`` recursively, as Snakemake merges --configfile."""
    out = dict(base)
    for key, value in over.items():
        out[key] = (
            _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


@pytest.mark.slow
def test_report_on_the_test_profile_contains_every_figure_and_table(workflow_copy):
    """Run (part of) the test profile in a copy of the workflow, then `snakemake --report`:
    every figure (PNG) and table the run wrote is in the self-contained HTML."""
    import yaml

    work = workflow_copy
    # the test profile without its slowest tasks (t-SNE trains nine networks), to keep this short
    config = _merged(
        yaml.safe_load((work / "config/config.yaml").read_text()),
        yaml.safe_load((work / "config/test.yaml").read_text()),
    )
    config["tasks"] = {t: v for t, v in config["tasks"].items() if t in REPORT_TEST_TASKS}
    (work / "config/config.yaml").write_text(yaml.safe_dump(config))
    run = run_snakemake(work, "--cores", "2", timeout=None)
    assert run.returncode == 0, run.stderr[-5000:]
    report = work / "results/test/report.html"
    made = run_snakemake(work, "--report", report)
    assert made.returncode == 0, made.stderr[-5000:]
    html = report.read_text()
    out = work / "results/test"
    figures = sorted(out.rglob("*.png"))
    tables = sorted((out / "tables").glob("*.html"))
    assert {p.name for p in figures} >= {
        "subset_distribution.png",
        "synthetic_vs_temperature.png",
        "l2x_training_curves.png",
        "knn_training_curves.png",
        "critical_difference.png",
    }
    assert {p.stem for p in tables} == {
        "synthetic_tv",
        "synthetic_checks",
        "l2x_posthoc",
        "l2x_median_rank",
        "l2x_comparison",
        "knn_accuracy",
        "knn_comparison",
        "study_bias",
        "study_variance",
        "estimator_ranks",
    }
    for path in figures + tables:
        assert path.name in html, f"{path.relative_to(out)} is not in the report"
    assert "examples.html" in html  # the L2X example explanations
    section = (out / "results.md").read_text()
    for table in tables:
        assert (table.with_suffix(".md")).read_text().strip() in section

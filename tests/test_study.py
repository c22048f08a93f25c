"""The estimator study: its metrics, its own code path on unbiased estimators, config and workflow."""

import math

import pandas as pd
import pytest
import torch
import yaml
from conftest import REPO, run_snakemake

from subsetgrad import available_estimators, cb_marginals, takes_temperature
from subsetgrad.bench.config import ConfigError, validate_config
from subsetgrad.bench.experiments import study
from subsetgrad.bench.metrics import METRIC_COLUMNS, metrics_frame
from subsetgrad.bench.results.specs import build_table, expected_study_rows

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


# --- metrics ----------------------------------------------------------------------------------
def test_gradient_metrics_on_known_estimates():
    exact = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    perfect = study.gradient_metrics(exact.expand(100, 3) * 3.0, exact)  # scale does not matter
    assert perfect["bias"] == pytest.approx(0, abs=1e-12) and perfect["variance"] == pytest.approx(
        0, abs=1e-12
    )
    assert perfect["mean_cosine"] == pytest.approx(1) and perfect["mse"] == pytest.approx(4 * 5.25)
    opposite = study.gradient_metrics(-exact.expand(10, 3), exact)
    assert opposite["bias"] == pytest.approx(2)
    # zero estimates count as cosine 0; half zero, half exact: variance of {0, 1} halves
    mixed = torch.cat([torch.zeros(50, 3, dtype=torch.float64), exact.expand(50, 3)])
    values = study.gradient_metrics(mixed, exact)
    assert values["mean_cosine"] == pytest.approx(0.5) and values["variance"] == pytest.approx(
        0.25 * 100 / 99
    )
    assert values["bias"] == pytest.approx(0, abs=1e-12)


def test_exact_gradients_agree_with_the_dp():
    """The CB exact gradient of a linear loss is (d mu / d w)^T c, computed a second way."""
    problem = study.make_problem(7, 3, "linear", seed=4)
    w = problem.logits.clone().requires_grad_()
    (via_dp,) = torch.autograd.grad(cb_marginals(w, 3) @ problem.coefficients, w)
    torch.testing.assert_close(study.exact_gradient(problem, "cb"), via_dp, rtol=0, atol=1e-10)
    assert (study.exact_gradient(problem, "pl_wor") - via_dp).abs().max() > 1e-3


def test_settings_sweep_each_estimators_own_temperature():
    settings = study.settings_for(["relaxed", "reinforce", "simple", "imle"], [0.5, 2])
    by_name = {}
    for s in settings:
        by_name.setdefault(s.estimator, []).append(s)
    assert [s.options() for s in by_name["relaxed"]] == [{"tau": 0.5}, {"tau": 2.0}]
    assert [s.options() for s in by_name["imle"]] == [{"lambda_": 0.5}, {"lambda_": 2.0}]
    assert [s.options() for s in by_name["reinforce"]] == [{}] and len(by_name["simple"]) == 1
    with pytest.raises(ValueError, match="unknown estimator"):
        study.settings_for(["nope"], [1.0])


@pytest.mark.parametrize("name", available_estimators())
def test_the_study_sweeps_an_option_exactly_for_estimators_with_a_temperature(name):
    """One decision: the study sweeps a grid for the estimators the library says take a
    temperature, and its tables expect exactly the settings it runs."""
    option = study.study_swept_option(name)
    assert (option is not None) == takes_temperature(name)
    task = {"estimators": [name], "temperatures": [0.5, 2]}
    runs = [(s.estimator, s.temperature) for s in study.settings_for([name], [0.5, 2])]
    expected = expected_study_rows(task)
    assert [e for e, _ in expected] == [e for e, _ in runs]
    assert [t for _, t in runs] == ([0.5, 2.0] if option else [None])
    if option is None:
        assert all(math.isnan(t) for _, t in expected)
    else:
        assert [t for _, t in expected] == [0.5, 2.0]


# --- the study's own code path cannot silently mis-measure --------------------------------------
@pytest.fixture(scope="module")
def small_problems():
    out = {}
    for loss in ("linear", "nonlinear"):
        problem = study.make_problem(6, 3, loss, seed=11)
        out[loss] = problem, {f: study.exact_gradient(problem, f) for f in study.FAMILIES}
    return out


@pytest.mark.parametrize("name", ["reinforce", "reinforce_loo"])
@pytest.mark.parametrize("loss", ["linear", "nonlinear"])
def test_unbiased_estimators_show_no_bias_in_the_study_path(small_problems, name, loss):
    problem, exact = small_problems[loss]
    per_family, _, grads = study.measure(study.Setting(name), problem, exact, 20_000, seed=0)
    mean = grads.mean(0)
    se = grads.std(0) / math.sqrt(grads.shape[0])
    # 4 standard errors per coordinate: a false alarm has probability < 1e-3 over 6 coordinates
    assert ((mean - exact["pl_wor"]).abs() < 4 * se).all(), (mean, exact["pl_wor"], se)
    own = per_family["pl_wor"]
    # the reported bias is Monte Carlo error: an unbiased estimate's 1 - cos is a weighted
    # chi-square with mean bias_noise_floor; 5x the mean is exceeded with probability < 3%
    # even with one degree of freedom, far less with 5
    assert own["bias"] < 5 * own["bias_noise_floor"], own
    # power: the same checks flag the other family's gradient
    assert ((mean - exact["cb"]).abs() > 4 * se).any()
    assert per_family["cb"]["bias"] > 5 * per_family["cb"]["bias_noise_floor"], per_family["cb"]


def test_a_biased_estimator_is_flagged_in_the_study_path(small_problems):
    problem, exact = small_problems["nonlinear"]
    per_family, _, _ = study.measure(study.Setting("relaxed", "tau", 5.0), problem, exact, 5_000, seed=0)
    assert per_family["pl_wor"]["bias"] > 10 * per_family["pl_wor"]["bias_noise_floor"]


@pytest.mark.parametrize("name", available_estimators())
@pytest.mark.parametrize("scale", [1e4, 1e-4])
def test_every_estimator_gradient_is_finite_on_extreme_logits(name, scale):
    """Through the study's own path (it raises on non-finite estimates), at its extreme temperatures."""
    for setting in study.settings_for([name], [0.1, 5.0]):
        problem = study.make_problem(8, 3, "squared", seed=2)
        problem = study.Problem(8, 3, "squared", problem.logits * scale, problem.coefficients)
        exact = {"pl_wor": torch.ones(8, dtype=torch.float64)}
        per_family, per_gradient, grads = study.measure(setting, problem, exact, 64, seed=0, warmup=8)
        assert torch.isfinite(grads).all() and per_gradient > 0


# --- run, tables, figures ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_run():
    rows = []
    for loss in ("linear", "squared"):
        rows += study.run_study(
            6,
            2,
            loss,
            ["straight_through", "reinforce", "simple", "imle"],
            [0.5, 2],
            seeds=[0, 1],
            num_gradients=200,
            progress=False,
        )
    return metrics_frame(rows)


def test_run_rows_are_tidy(tiny_run):
    assert list(tiny_run.columns) == list(METRIC_COLUMNS)
    assert set(tiny_run.task) == {"study"} and set(tiny_run.dataset) == {"n6_k2_linear", "n6_k2_squared"}
    expected = {f"{q}_vs_{f}" for q in study.QUANTITIES for f in study.FAMILIES} | {study.TIME_METRIC}
    assert set(tiny_run.metric) == expected
    # 2 tempered x 2 temperatures + 2 untempered = 6 settings, x 2 seeds x 2 losses
    assert len(tiny_run[tiny_run.metric == study.TIME_METRIC]) == 6 * 2 * 2
    assert tiny_run[tiny_run.estimator == "imle"].tau.dropna().unique().tolist() == [0.5, 2.0]
    assert tiny_run[tiny_run.estimator == "simple"].tau.isna().all()


def test_own_family_means_use_each_estimators_target(tiny_run):
    means = study.own_family_means(tiny_run)
    # 6 settings x 2 problems, one row each (means over the 2 seeds)
    assert len(means) == 6 * 2 and set(means.columns) >= {"bias", "variance"}
    simple = means[(means.estimator == "simple") & (means.dataset == "n6_k2_linear")].iloc[0]
    assert simple.bias < 1e-12 and simple.variance < 1e-12  # SIMPLE is exact on a linear loss
    # each row is against the estimator's own family: SIMPLE's CB bias, not its PL-WOR one
    cb = tiny_run[
        (tiny_run.estimator == "simple")
        & (tiny_run.dataset == "n6_k2_squared")
        & (tiny_run.metric == "bias_vs_cb")
    ].value.mean()
    squared = means[(means.estimator == "simple") & (means.dataset == "n6_k2_squared")].iloc[0]
    assert squared.bias == pytest.approx(cb)


def test_the_results_tables_show_the_study(tiny_run):
    """The study's tables come from the results package: every setting it ran, I-MLE's lambda_
    in the temperature column, nothing missing."""
    config = {
        "tasks": {
            "study": {
                "n": 6,
                "k": [2],
                "losses": ["linear", "squared"],
                "estimators": ["straight_through", "reinforce", "simple", "imle"],
                "temperatures": [0.5, 2],
            }
        }
    }
    for name in ("study_bias", "study_variance"):
        table = build_table(name, tiny_run, config)
        assert (table.cells.n_seeds == 2).all(), table.cells[table.cells.n_seeds != 2]
        assert len(table.row_tuples()) == 6 and len(table.column_tuples()) == 2
        assert ("imle", "0.5") in table.row_tuples() and "lambda_" in " ".join(table.notes)


def test_figures_render(tiny_run):
    import matplotlib.pyplot as plt

    for fig in (study.plot_versus_temperature(tiny_run), study.plot_bias_variance(tiny_run)):
        assert len(fig.axes) >= 2
        plt.close(fig)


# --- config -------------------------------------------------------------------------------------
def _config(**study_section):
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["tasks"] = {"study": {**config["tasks"]["study"], **study_section}}
    return config


def test_default_study_section_is_valid():
    validate_config(_config(), SCHEMA)


@pytest.mark.parametrize(
    "section, message",
    [
        ({"k": [11]}, "k=11 is larger than n=10"),
        ({"n": 17}, "above the maximum 16"),
        ({"losses": ["cubic"]}, "tasks.study.losses"),
        ({"num_gradients": 1}, "below the minimum 2"),
        ({"estimators": ["nope"]}, "tasks.study.estimators"),
    ],
)
def test_bad_study_config_is_rejected(section, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(_config(**section), SCHEMA)


def test_dataset_names_are_checked_against_the_config():
    task = _config()["tasks"]["study"]
    assert study.check_dataset_in_config("n10_k5_squared", task) == (10, 5, "squared")
    with pytest.raises(ValueError, match="not in the config"):
        study.check_dataset_in_config("n10_k3_linear", task)
    with pytest.raises(ValueError, match="not of the form"):
        study.parse_dataset("n10_k5_cubic")


# --- workflow -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_study_rules_end_to_end(workflow_copy):
    """The test profile's study targets, in a copy of the workflow so the checkout stays clean."""
    work = workflow_copy
    out = work / "results/test/study"
    targets = ["results/test/study/metrics.csv", "results/test/study/bias_variance_scatter.png"]
    result = run_snakemake(
        work, "--cores", "2", "--configfile", "config/test.yaml", "--", *targets, timeout=600
    )
    assert result.returncode == 0, result.stderr[-5000:]
    metrics = pd.read_csv(out / "n6_k3_linear/metrics.csv")
    assert list(metrics.columns) == list(METRIC_COLUMNS) and metrics.value.notna().any()
    merged = pd.read_csv(out / "metrics.csv")
    assert list(merged.columns) == list(METRIC_COLUMNS)
    assert set(merged.estimator) == {"straight_through", "reinforce", "simple", "imle"}
    pd.testing.assert_frame_equal(merged, metrics)  # the test profile has this one problem
    for name in ("bias_variance_vs_temperature", "bias_variance_scatter"):
        assert (out / f"{name}.png").stat().st_size > 10_000 and (out / f"{name}.pdf").exists()
    assert (out / "n6_k3_linear/provenance.json").exists()
    assert (work / "results/test/benchmarks/study_gradients_n6_k3_linear.tsv").exists()

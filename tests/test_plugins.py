"""Estimators defined outside the package: registration, entry points, and a run of the
test profile's tasks with an estimator that lives in a temporary folder."""

import importlib.util
import re
import sys

import pandas as pd
import pytest
import torch
import yaml
from conftest import REPO, run_snakemake

import subsetgrad
from subsetgrad import PluginError, make_estimator, register_estimator
from subsetgrad import _estimator_base as registry
from subsetgrad.bench.results.style import estimator_colors
from subsetgrad.plugins import builtin_estimators, load_entry_points

#: A module that no folder of the repository holds: the estimator of the workflow run.
OUTSIDE_MODULE = '''
import torch
from subsetgrad import Estimator, SubsetSample, relaxed_topk
from subsetgrad.gumbel import sample_gumbel


class NoisySoftTopK(Estimator):
    """The relaxed top-k of Gumbel-perturbed logits, written outside the package."""

    target = "pl_wor"
    biased = True
    option_names = ("tau", "num_samples")

    def __init__(self, k, tau=1.0, num_samples=1):
        super().__init__(k, num_samples)
        self.tau = float(tau)

    def sample(self, logits, generator=None):
        w = self._expand(logits)
        noise = sample_gumbel(w.shape, dtype=w.dtype, device=w.device, generator=generator)
        return SubsetSample(khot=relaxed_topk(w + noise, self.k, self.tau))
'''


@pytest.fixture
def outside_module(tmp_path, monkeypatch):
    """``outside_estimators`` in a fresh folder; the registry is restored afterwards."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "outside_estimators.py").write_text(OUTSIDE_MODULE)
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield folder
    sys.modules.pop("outside_estimators", None)


def test_a_registered_class_is_made_like_a_builtin(outside_module):
    cls = subsetgrad.load_estimator_class("outside_estimators:NoisySoftTopK", outside_module)
    register_estimator("noisy_soft", cls, {"num_samples": 2})
    assert "noisy_soft" in subsetgrad.available_estimators()
    assert subsetgrad.takes_temperature("noisy_soft")
    estimator = make_estimator("noisy_soft", 2, tau=0.5)
    assert isinstance(estimator, cls) and estimator.num_samples == 2 and estimator.tau == 0.5
    assert estimator.sample(torch.randn(3, 5)).khot.shape == (2, 3, 5)
    assert not hasattr(cls, "plugin_source"), "the user's own class is left untouched"
    with pytest.raises(ValueError, match="does not take option"):
        make_estimator("noisy_soft", 2, num_samples=3)  # fixed by the registration


def test_a_fixed_temperature_makes_it_run_once(outside_module):
    cls = subsetgrad.load_estimator_class("outside_estimators:NoisySoftTopK", outside_module)
    register_estimator("noisy_soft_fixed", cls, {"tau": 0.5})
    assert not subsetgrad.takes_temperature("noisy_soft_fixed")
    assert make_estimator("noisy_soft_fixed", 2).tau == 0.5


def test_a_plugin_never_shifts_a_builtin_colour(outside_module):
    before = estimator_colors()
    cls = subsetgrad.load_estimator_class("outside_estimators:NoisySoftTopK", outside_module)
    register_estimator("aaa_first_in_sorted_order", cls)
    after = estimator_colors()
    assert all(after[name] == colour for name, colour in before.items())
    assert "aaa_first_in_sorted_order" in after


@pytest.mark.parametrize(
    ("name", "cls", "options", "message"),
    [
        ("relaxed", subsetgrad.estimators.RelaxedSubset, {}, "is a builtin estimator"),
        ("Bad-Name", subsetgrad.estimators.RelaxedSubset, {}, "must be a lower-case identifier"),
        ("mine", dict, {}, "neither a subclass of subsetgrad.Estimator nor a torch.nn.Module"),
        ("mine", subsetgrad.Estimator, {}, "does not implement sample"),
        (
            "mine",
            subsetgrad.estimators.RelaxedSubset,
            {"temperature": 1},
            "does not take option(s) temperature",
        ),
        ("mine", subsetgrad.estimators.RelaxedSubset, {"tau": -1.0}, "raised ValueError: tau must be"),
    ],
)
def test_a_bad_registration_says_why(monkeypatch, name, cls, options, message):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    with pytest.raises(PluginError, match=message.replace("(", r"\(").replace(")", r"\)")):
        register_estimator(name, cls, options)


def test_a_module_satisfying_the_protocol_is_accepted(monkeypatch):
    """Not a subclass of Estimator: any nn.Module with the protocol's methods and attributes."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    class Protocol(torch.nn.Module):
        target, biased, option_names = "pl_wor", False, ()

        def __init__(self, k):
            super().__init__()
            self.k = k

        def sample(self, logits, generator=None):
            return subsetgrad.SubsetSample(khot=subsetgrad.topk_khot(logits, self.k))

        def surrogate(self, sample, loss):
            return loss.mean()

    register_estimator("protocol_only", Protocol)
    assert make_estimator("protocol_only", 2).sample(torch.randn(4)).khot.sum() == 2

    class WrongFamily(Protocol):
        target = "bernoulli"

    with pytest.raises(PluginError, match="declare the k-subset family"):
        register_estimator("wrong_family", WrongFamily)


def test_installed_entry_points_join_the_registry(outside_module, tmp_path, monkeypatch):
    """A distribution's metadata on sys.path, as `pip install` leaves it: one good entry
    point, one that shadows a builtin, one that cannot be imported."""
    info = outside_module / "outside_estimators-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: outside-estimators\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[subsetgrad.estimators]\n"
        "outside_soft = outside_estimators:NoisySoftTopK\n"
        "relaxed = outside_estimators:NoisySoftTopK\n"
        "broken_one = no_such_module_anywhere:Thing\n"
    )
    sys.path.insert(0, str(outside_module))
    monkeypatch.setattr("subsetgrad.plugins.ENTRY_POINT_PROBLEMS", {})
    load_entry_points()
    from subsetgrad import plugins

    assert "outside_soft" in subsetgrad.available_estimators()
    assert subsetgrad.estimator_class("relaxed") is subsetgrad.estimators.RelaxedSubset
    assert "builtin" in plugins.ENTRY_POINT_PROBLEMS["relaxed"]
    assert "cannot import module 'no_such_module_anywhere'" in plugins.ENTRY_POINT_PROBLEMS["broken_one"]
    assert "outside_soft" not in builtin_estimators()


@pytest.mark.slow
def test_an_outside_estimator_runs_through_every_task_from_config_alone(tmp_path):
    """The test profile with an estimator the repository does not hold: kNN, L2X, t-SNE and
    the study run it, and it has rows in metrics.csv, the tables and the report."""
    from conftest import copy_workflow

    workflow = copy_workflow(tmp_path / "wf")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "outside_estimators.py").write_text(OUTSIDE_MODULE)
    name = "outside_soft"
    overlay = {
        "profile": "plugin",
        "estimators": {name: {"import": "outside_estimators:NoisySoftTopK", "path": str(outside)}},
        "tasks": {
            "synthetic": {"num_samples": 200, "temperatures": [1]},
            "l2x": {"estimators": [name]},
            "knn": {"estimators": [name], "epochs": 1},
            "tsne": {"estimators": [name], "methods": [], "inits": ["scratch"], "epochs": 1},
            "study": {"estimators": [name], "num_gradients": 50},
        },
    }
    (workflow / "plugin.yaml").write_text(yaml.safe_dump(overlay))
    assert importlib.util.find_spec("outside_estimators") is None  # not importable from here
    # the metrics and the tables with the report section (results.md), not the figures
    result = run_snakemake(
        workflow,
        "results/plugin/results.md",
        "--cores",
        "2",
        "--configfile",
        "config/test.yaml",
        "plugin.yaml",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    out = workflow / "results/plugin"
    metrics = pd.read_csv(out / "metrics.csv")
    assert set(metrics[metrics.estimator == name].task) >= {"knn", "l2x", "tsne", "study"}
    for table in ("knn_accuracy", "l2x_median_rank", "tsne_quality", "study_bias"):
        assert name in (out / f"tables/{table}.md").read_text(), table
    assert name in (out / "results.md").read_text()


def test_a_config_naming_a_broken_entry_point_says_why(monkeypatch):
    from subsetgrad import plugins
    from subsetgrad.bench.config import ConfigError, validate_config

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setitem(plugins.ENTRY_POINT_PROBLEMS, "broken_one", "entry point 'gone:Thing': cannot import")
    monkeypatch.chdir(REPO)
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["tasks"]["study"]["estimators"] = ["relaxed", "broken_one"]
    with pytest.raises(ConfigError) as info:
        validate_config(config, REPO / "workflow/schemas/config.schema.yaml")
    assert "estimator 'broken_one' (an installed entry point) could not be loaded" in str(info.value)
    assert "entry point 'gone:Thing': cannot import" in str(info.value)


def test_every_job_registers_the_config_plugins(outside_module):
    """Workflow scripts start with redirect_to_log, which makes the config's plug-ins known
    in the job's own process, and stops the job with the reason when one cannot be loaded."""
    from types import SimpleNamespace

    from subsetgrad.bench.workflow_log import redirect_to_log

    entry = {"import": "outside_estimators:NoisySoftTopK", "path": str(outside_module)}
    redirect_to_log(SimpleNamespace(log=[], config={"estimators": {"in_job": entry}}))
    assert subsetgrad.takes_temperature("in_job")
    missing = {"import": "outside_estimators:NoSuchClass", "path": str(outside_module)}
    with pytest.raises(RuntimeError, match="has no attribute 'NoSuchClass'"):
        redirect_to_log(SimpleNamespace(log=[], config={"estimators": {"gone": missing}}))


#: Two estimators nested in a namespace class, named by a dotted import path
#: ``"module:Outer.Inner"`` as entry points allow; one is defined for k = 1 only.
NESTED_MODULE = '''
import torch
from subsetgrad import Estimator, SubsetSample, topk_khot


class Family:
    class TopOne(Estimator):
        """The top-1 subset of the logits: defined for k = 1 only."""

        target = "pl_wor"
        biased = True
        option_names = ("num_samples",)

        def __init__(self, k, num_samples=1):
            if k != 1:
                raise ValueError(f"TopOne takes k = 1 only, got {k!r}")
            super().__init__(k, num_samples)

        def sample(self, logits, generator=None):
            return SubsetSample(khot=topk_khot(self._expand(logits), 1))
'''


@pytest.fixture
def nested_module(outside_module):
    (outside_module / "nested_estimators.py").write_text(NESTED_MODULE)
    yield outside_module
    sys.modules.pop("nested_estimators", None)


def test_a_dotted_import_path_names_a_nested_class_registered_under_its_own_names(nested_module):
    """The part after the colon is an attribute path; the registered class carries the
    registry name like a builtin and shows as the user's class (module, qualified name,
    docstring). The constructor check builds it with k = 1, which every estimator takes."""
    cls = subsetgrad.load_estimator_class("nested_estimators:Family.TopOne", nested_module)
    assert cls.__qualname__ == "Family.TopOne"
    registered = register_estimator("top_one", cls)
    assert registered.name == "top_one" == subsetgrad.estimator_class("top_one").name
    assert registered.__module__ == "nested_estimators"
    assert registered.__qualname__ == "Family.TopOne"
    assert registered.__doc__ == cls.__doc__
    estimator = make_estimator("top_one", 1)
    assert type(estimator).name == "top_one"
    assert estimator.sample(torch.tensor([0.0, 2.0, 1.0])).khot.tolist() == [0.0, 1.0, 0.0]


@pytest.mark.parametrize("path", ["outside_estimators", ":NoisySoftTopK", "outside_estimators:"])
def test_an_import_path_without_module_or_class_is_refused_by_its_form(outside_module, path):
    with pytest.raises(PluginError, match="must have the form 'package.module:ClassName'"):
        subsetgrad.load_estimator_class(path, outside_module)


def test_an_import_path_splits_at_its_first_colon(outside_module):
    """Module names hold no colon: the module before the first one is imported, and the
    error names the attribute that is missing, not a module that cannot be found."""
    with pytest.raises(PluginError, match="has no attribute 'NoisySoftTopK:extra'"):
        subsetgrad.load_estimator_class("outside_estimators:NoisySoftTopK:extra", outside_module)


def test_the_search_folder_goes_first_on_sys_path_once(outside_module):
    folder = str(outside_module.resolve())
    for _ in range(2):  # a config read twice in one process
        subsetgrad.load_estimator_class("outside_estimators:NoisySoftTopK", outside_module)
        assert sys.path[0] == folder
        assert sys.path.count(folder) == 1


def test_a_module_that_cannot_be_imported_says_where_it_was_looked_for(outside_module):
    where = f"cannot import module 'nowhere_module' from {outside_module}:"
    with pytest.raises(PluginError, match=re.escape(where)):
        subsetgrad.load_estimator_class("nowhere_module:Thing", outside_module)
    with pytest.raises(PluginError) as info:
        subsetgrad.load_estimator_class("nowhere_module:Thing")
    assert "cannot import module 'nowhere_module' (is it installed or on PYTHONPATH?)" in str(info.value)


def test_a_module_missing_the_whole_protocol_is_told_every_problem(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    class Bare(torch.nn.Module):
        pass

    with pytest.raises(PluginError) as info:
        register_estimator("bare", Bare)
    message = str(info.value)
    for problem in (
        "Bare has no method 'sample'",
        "Bare has no method 'surrogate'",
        "Bare.target is None; declare the k-subset family",
        "Bare.biased must be True or False, got None",
        "Bare.option_names must be a tuple of option names, got None",
    ):
        assert problem in message
    assert "bare" not in registry._REGISTRY


def test_wrong_attribute_types_are_reported_with_the_value_found(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    class Loose(subsetgrad.estimators.RelaxedSubset):
        biased = "yes"
        option_names = ["tau"]  # a list, not a tuple

    with pytest.raises(PluginError) as info:
        register_estimator("loose", Loose)
    message = str(info.value)
    assert "Loose.biased must be True or False, got 'yes'" in message
    assert "Loose.option_names must be a tuple of option names, got ['tau']" in message


def test_a_constructor_that_lacks_a_declared_option_is_refused_before_it_is_called(monkeypatch):
    """The options are checked against the constructor's signature first: a constructor
    that does not accept them is never run."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    calls = []

    class Declared(subsetgrad.estimators.RelaxedSubset):
        option_names = ("tau", "num_samples")

        def __init__(self, k, num_samples=1):
            calls.append(k)
            super().__init__(k, num_samples=num_samples)

    with pytest.raises(PluginError, match=r"Declared's constructor does not accept k and options \['tau'\]"):
        register_estimator("declared", Declared, {"tau": 0.5})
    assert calls == []


@pytest.mark.parametrize("name", ["bad-name", "BadName", 3])
def test_a_name_must_be_a_lower_case_identifier(monkeypatch, name):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    with pytest.raises(PluginError, match="must be a lower-case identifier"):
        register_estimator(name, subsetgrad.estimators.RelaxedSubset)
    assert name not in registry._REGISTRY


def test_registering_a_plugin_name_again_replaces_it(outside_module):
    cls = subsetgrad.load_estimator_class("outside_estimators:NoisySoftTopK", outside_module)
    register_estimator("noisy_twice", cls, {"tau": 0.5})
    register_estimator("noisy_twice", cls, {"tau": 2.0})  # the config loaded again, edited
    assert make_estimator("noisy_twice", 2).tau == 2.0


def test_an_entry_point_under_a_name_a_plugin_holds_keeps_the_plugin(outside_module, monkeypatch):
    """Only a builtin's name makes an entry point a problem; a plug-in already registered
    under the name (the config's own entry, or entry points loaded again) stays."""
    info = outside_module / "outside_estimators-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: outside-estimators\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[subsetgrad.estimators]\noutside_soft = outside_estimators:NoisySoftTopK\n"
    )
    cls = subsetgrad.load_estimator_class("outside_estimators:NoisySoftTopK", outside_module)
    register_estimator("outside_soft", cls, {"tau": 0.5})
    monkeypatch.setattr("subsetgrad.plugins.ENTRY_POINT_PROBLEMS", {})
    load_entry_points()
    from subsetgrad import plugins

    assert "outside_soft" not in plugins.ENTRY_POINT_PROBLEMS
    assert make_estimator("outside_soft", 2).tau == 0.5

"""Estimators defined outside the package: found by import path or by entry point, checked
against the :class:`~subsetgrad.Estimator` protocol, and registered beside the builtins.

Once registered under a name, a plug-in estimator is indistinguishable from a builtin:
:func:`~subsetgrad.make_estimator`, :func:`~subsetgrad.estimator_class`,
:func:`~subsetgrad.takes_temperature` and :func:`~subsetgrad.available_estimators` all know it.

Two ways in:

* :func:`register_estimator` with a class (or :func:`load_estimator_class` with an import
  path ``"package.module:ClassName"`` first), optionally with constructor defaults;
* an installed distribution that declares an entry point in the group
  :data:`ENTRY_POINT_GROUP` (``subsetgrad.estimators``), ``name = "package.module:ClassName"``;
  these are registered the first time the registry is consulted.

The protocol, checked by :func:`protocol_problems`: a ``torch.nn.Module`` (``state_dict`` is
how training resumes) whose constructor takes ``k`` first and its options by keyword, with
``sample(logits, generator=None)`` returning a :class:`~subsetgrad.SubsetSample`,
``surrogate(sample, loss)``, and the class attributes ``target`` (a family of
:data:`TARGET_FAMILIES`), ``biased`` (bool) and ``option_names`` (the keyword options it
accepts). Subclassing :class:`~subsetgrad.Estimator` provides all of it but ``sample``.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import sys
from pathlib import Path

from torch import nn

from . import _estimator_base as base

_log = logging.getLogger("subsetgrad")

#: The entry-point group installed packages declare their estimators in.
ENTRY_POINT_GROUP = "subsetgrad.estimators"
#: The k-subset families an estimator may declare as its ``target``.
TARGET_FAMILIES = ("pl_wor", "cb")


class PluginError(ValueError):
    """A plug-in estimator cannot be loaded, does not satisfy the protocol, or clashes."""


def protocol_problems(cls: object) -> list[str]:
    """What keeps ``cls`` from being an estimator class; empty when it is one."""
    if not inspect.isclass(cls):
        return [f"{cls!r} is not a class (the import path must name the estimator class itself)"]
    label = cls.__qualname__
    if issubclass(cls, base.Estimator):
        problems = []
    elif not issubclass(cls, nn.Module):
        return [
            f"{label} is neither a subclass of subsetgrad.Estimator nor a torch.nn.Module; "
            f"subclass subsetgrad.Estimator"
        ]
    else:
        problems = [
            f"{label} has no method {method!r}"
            for method in ("sample", "surrogate")
            if not callable(getattr(cls, method, None))
        ]
    if getattr(cls, "sample", None) is base.Estimator.sample:
        problems.append(f"{label} does not implement sample(logits, generator=None)")
    target = getattr(cls, "target", None)
    if target not in TARGET_FAMILIES:
        problems.append(
            f"{label}.target is {target!r}; declare the k-subset family it samples, one of "
            f"{', '.join(map(repr, TARGET_FAMILIES))}"
        )
    if not isinstance(getattr(cls, "biased", None), bool):
        problems.append(f"{label}.biased must be True or False, got {getattr(cls, 'biased', None)!r}")
    option_names = getattr(cls, "option_names", None)
    if not isinstance(option_names, tuple) or not all(isinstance(o, str) for o in option_names):
        problems.append(f"{label}.option_names must be a tuple of option names, got {option_names!r}")
    return problems


def load_estimator_class(import_path: str, search_path: str | Path | None = None) -> type:
    """The class named by ``"package.module:ClassName"``, its module imported with
    ``search_path`` (a folder) put first on ``sys.path`` when given. Raises
    :class:`PluginError` saying what failed."""
    module_name, sep, attribute = str(import_path).partition(":")
    if not sep or not module_name or not attribute:
        raise PluginError(f"import path {import_path!r} must have the form 'package.module:ClassName'")
    if search_path is not None:
        folder = Path(search_path).resolve()
        if not folder.is_dir():
            raise PluginError(f"path {str(search_path)!r} is not a folder (resolved to {folder})")
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # the user's module may fail in any way; report how
        where = f" from {search_path}" if search_path is not None else " (is it installed or on PYTHONPATH?)"
        raise PluginError(
            f"cannot import module {module_name!r}{where}: {type(err).__name__}: {err}"
        ) from err
    obj = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise PluginError(f"module {module_name!r} has no attribute {attribute!r}")
        obj = getattr(obj, part)
    return obj


def _constructor_problems(cls: type, options: dict) -> list[str]:
    label = cls.__qualname__
    unknown = sorted(set(options) - set(cls.option_names))
    if unknown:
        return [
            f"{label} does not take option(s) {', '.join(unknown)}; its option_names are "
            f"{', '.join(cls.option_names) or '(none)'}"
        ]
    try:
        inspect.signature(cls).bind(1, **options)
    except TypeError as err:
        return [f"{label}'s constructor does not accept k and options {sorted(options)}: {err}"]
    except ValueError:  # no signature to inspect (a builtin type); the call below decides
        pass
    try:
        cls(1, **options)
    except Exception as err:  # the user's constructor decides what it accepts
        return [f"{label}(k=1, **{options!r}) raised {type(err).__name__}: {err}"]
    return []


def _configured_class(name: str, cls: type, options: dict) -> type:
    """A subclass of ``cls`` registered as ``name`` whose constructor defaults are ``options``.

    Subclassing leaves the user's class untouched (no ``name`` written on it) and lets one
    class be registered under several names with different options. An option fixed here is
    no longer an option of the name: a fixed ``tau`` makes the estimator run once at that
    temperature where the benchmark would sweep a grid.
    """
    defaults = dict(options)
    cls_init = cls.__init__

    def __init__(self, k, **given):
        cls_init(self, k, **{**defaults, **given})

    attributes = {
        "__init__": __init__,
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__doc__": cls.__doc__,
        "option_names": tuple(o for o in cls.option_names if o not in defaults),
        "plugin_source": f"{cls.__module__}:{cls.__qualname__}",
        "plugin_options": defaults,
    }
    return type(cls.__name__, (cls,), attributes)


def register_estimator(name: str, cls: type, options: dict | None = None) -> type:
    """Register the estimator class ``cls`` as ``name`` with constructor defaults ``options``.

    ``name`` must be a lower-case identifier that no builtin uses. Registering a name again
    replaces the earlier plug-in (a config loaded twice in one process). Raises
    :class:`PluginError` naming every problem; returns the registered class.
    """
    options = dict(options or {})
    if not isinstance(name, str) or not name.isidentifier() or name != name.lower():
        raise PluginError(f"estimator name {name!r} must be a lower-case identifier (letters, digits, _)")
    existing = base._REGISTRY.get(name)
    if existing is not None and not getattr(existing, "plugin_source", None):
        raise PluginError(f"estimator name {name!r} is a builtin estimator; choose another name")
    problems = protocol_problems(cls)
    if not problems:
        problems = _constructor_problems(cls, options)
    if problems:
        raise PluginError(f"estimator {name!r}: " + "; ".join(problems))
    configured = _configured_class(name, cls, options)
    configured.name = name
    base._REGISTRY[name] = configured
    return configured


def builtin_estimators() -> list[str]:
    """Names of the estimators this package defines (not plug-ins)."""
    return sorted(n for n, c in base._REGISTRY.items() if not getattr(c, "plugin_source", None))


#: Entry points that failed to load, ``name -> why``; reported when a config names one.
ENTRY_POINT_PROBLEMS: dict[str, str] = {}


def load_entry_points() -> None:
    """Register every estimator installed packages declare in :data:`ENTRY_POINT_GROUP`.

    One that cannot be imported, breaks the protocol or reuses a builtin's name is left
    out with a warning (an unrelated broken package must not stop every run); why is kept
    in :data:`ENTRY_POINT_PROBLEMS`.
    """
    from importlib.metadata import entry_points

    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name in base._REGISTRY:
            if not getattr(base._REGISTRY[point.name], "plugin_source", None):
                ENTRY_POINT_PROBLEMS[point.name] = "its name is a builtin estimator's"
                _log.warning("entry point %s (%s) ignored: name of a builtin", point.name, point.value)
            continue
        try:
            register_estimator(point.name, load_estimator_class(point.value))
        except PluginError as err:
            ENTRY_POINT_PROBLEMS[point.name] = f"entry point {point.value!r}: {err}"
            _log.warning("entry point %s ignored: %s", point.name, err)


base._PENDING_LOADERS.append(load_entry_points)

__all__ = [
    "ENTRY_POINT_GROUP",
    "ENTRY_POINT_PROBLEMS",
    "PluginError",
    "TARGET_FAMILIES",
    "builtin_estimators",
    "load_entry_points",
    "load_estimator_class",
    "protocol_problems",
    "register_estimator",
]

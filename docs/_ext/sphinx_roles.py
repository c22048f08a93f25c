"""Griffe extension for the API reference: Sphinx roles in docstrings become Markdown.

``:func:`name```, ``:class:`name```, ``:meth:``, ``:attr:``, ``:mod:``, ``:data:`` and
``:exc:`` become cross-references when ``name`` is documented on the site (the public API
of ``subsetgrad`` and the estimator classes), otherwise plain code spans.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|mod|data|exc|obj):`~?([^`]+)`")
_SRC = Path(__file__).resolve().parents[2] / "src" / "subsetgrad"


def _public_names() -> dict[str, str]:
    """Short name -> identifier of every object that the API pages render."""
    tree = ast.parse((_SRC / "__init__.py").read_text())
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            names.update({elt.value: f"subsetgrad.{elt.value}" for elt in node.value.elts})
    for module, members in {
        "estimators": [
            "RelaxedSubset",
            "StraightThrough",
            "Reinforce",
            "ReinforceLeaveOneOut",
            "ConcreteMax",
            "NeuralSortSubset",
        ],
        "estimators_cb": ["Simple", "ImplicitMLE", "sample_sum_of_gamma"],
    }.items():
        names.update({m: f"subsetgrad.{module}.{m}" for m in members})
    return names


class SphinxRoles(griffe.Extension):
    def __init__(self) -> None:
        super().__init__()
        self.names = _public_names()

    def _replace(self, match: re.Match) -> str:
        target = match.group(1)
        short = target.rsplit(".", 1)[-1]
        if target.startswith(("subsetgrad.", short)) and short in self.names:
            return f"[`{short}`][{self.names[short]}]"
        return f"`{target}`"

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(self._replace, obj.docstring.value)

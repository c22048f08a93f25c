"""Paper-style result tables from tidy metrics.

A table is a grid of cells. Rows and columns are each labelled by one or more
key columns of the tidy metrics (for example rows ``estimator, tau`` and columns
``dataset``). A measured cell holds every seed's ``value`` for its keys and shows

    mean ± std (n)

with the mean and the sample standard deviation (ddof = 1) over the n seeds
(``mean (1)`` for a single seed, whose standard deviation is undefined). The
best measured cell of each column is bold: the largest mean where higher is
better, the smallest where lower is better, compared at the printed precision
so that cells that print the same are all bold. A cell whose run is absent (an
expected row/column pair with no value) prints ``missing``, never a number.
Published numbers are appended as separate rows, labelled with their source;
they are never averaged with, or ranked against, measured cells.

Each table is written as CSV (one tidy row per cell, unrounded), Markdown,
LaTeX (booktabs, rendered by pandas' ``Styler.to_latex``) and an HTML fragment for
the Snakemake report.

A comparison table (``interval`` given) shows ``mean [low, high] (n)`` instead: the
Student-t confidence interval of the mean over the n seeds. Each measured row is then
tested against the column's best row on their common seeds with a paired test
(:mod:`.statistics`), the p-values of one column adjusted together by Holm's method;
a row significantly worse than the best carries a dagger. A test that lacks the seeds
it needs (:data:`~.statistics.MINIMUM_SEEDS`) reports nothing, and the notes say so.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd

from subsetgrad.bench.io import write_csv, write_text
from subsetgrad.bench.results.statistics import (
    MINIMUM_SEEDS,
    PAIRED_TEST_NAMES,
    holm,
    paired_test,
    t_interval,
)

MISSING = "missing"
#: Label of a key that does not apply, e.g. the temperature of an estimator without one.
NOT_APPLICABLE = "—"
#: Mark of a cell significantly worse than its column's best (paired test, Holm-adjusted).
WORSE = "†"
BETTER = ("max", "min")


def key_label(value) -> str:
    """Canonical text of a key value: ``0.1``, ``1``, ``mnist``; ``—`` for NaN/None."""
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return NOT_APPLICABLE
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    return str(value)


def _sort_key(label: str):
    """Numbers first in numeric order, then text; ``—`` last."""
    if label == NOT_APPLICABLE:
        return (2, 0.0, "")
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


@dataclass
class ResultTable:
    """A rendered-on-demand result table; ``cells`` has one row per grid cell.

    ``cells`` columns: the row keys and column keys (as labels), ``mean``,
    ``std``, ``n_seeds``, ``source`` (``measured``/``published``), ``relation``
    (``=`` or ``<=`` for published bounds), ``best``, ``annotation``, ``citation``; a
    comparison table (``interval`` set) also ``ci_low``, ``ci_high``, ``paired_seeds``,
    ``p_vs_best`` (Holm-adjusted) and ``worse_than_best``.
    """

    name: str
    title: str
    row_keys: list[str]
    col_keys: list[str]
    cells: pd.DataFrame
    digits: int = 3
    notes: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    #: confidence of the interval printed in each cell; None: print the standard deviation
    interval: float | None = None
    #: the paired test of a comparison table (a name in statistics.PAIRED_TESTS)
    paired: str | None = None
    alpha: float = 0.05

    # ----- structure -----
    def row_tuples(self) -> list[tuple]:
        return list(dict.fromkeys(map(tuple, self.cells[self.row_keys].to_numpy().tolist())))

    def column_tuples(self) -> list[tuple]:
        return list(dict.fromkeys(map(tuple, self.cells[self.col_keys].to_numpy().tolist())))

    def cell(self, row: Sequence, column: Sequence) -> pd.Series:
        """The cell at ``row`` x ``column`` (tuples of labels, or a single label)."""
        row = (row,) if isinstance(row, str) else tuple(row)
        column = (column,) if isinstance(column, str) else tuple(column)
        mask = np.ones(len(self.cells), dtype=bool)
        for key, value in zip(self.row_keys + self.col_keys, row + column):
            mask &= (self.cells[key] == value).to_numpy()
        found = self.cells[mask]
        if len(found) != 1:
            raise KeyError(f"table {self.name}: no cell at row {row}, column {column}")
        return found.iloc[0]

    # ----- text of one cell -----
    def _number(self, x: float) -> str:
        return f"{x:.{self.digits}f}"

    def cell_text(self, cell: pd.Series, fmt: str = "markdown") -> str:
        """The printed cell: ``mean ± std (n)``, bold when best, ``missing``, or the published value.

        ``fmt``: ``markdown``, ``html``, or ``text`` (plain, no markup: the LaTeX writer
        escapes it and marks the best and missing cells itself)."""
        if fmt not in ("markdown", "html", "text"):
            raise ValueError(f"cell format must be markdown, html or text, got {fmt!r}")
        if cell.source == "published":
            relation = {"=": "", "<=": "≤ "}[cell.relation]
            return relation + f"{cell['mean']:g}"  # as printed in the source
        if cell.n_seeds == 0:
            return "<i>missing</i>" if fmt == "html" else MISSING
        text = self._number(cell["mean"])
        if self.interval is not None:
            if cell.n_seeds > 1:
                text += f" [{self._number(cell['ci_low'])}, {self._number(cell['ci_high'])}]"
            if bool(cell.get("worse_than_best", False)):
                text += WORSE
        elif cell.n_seeds > 1:
            text += " ± " + self._number(cell["std"])
        if cell.best:
            text = {"markdown": f"**{text}**", "html": f"<b>{text}</b>", "text": text}[fmt]
        extra = f"{int(cell.n_seeds)}"
        if isinstance(cell.annotation, str) and cell.annotation:
            extra += "; " + (html.escape(cell.annotation) if fmt == "html" else cell.annotation)
        return text + f" ({extra})"

    def _display(self, label: str) -> str:
        return self.labels.get(label, label)

    def _header(self, key: str, label: str) -> str:
        """A column header: ``τ = 0.1`` for numbers (a bare number would not say what it is)."""
        if _sort_key(label)[0] == 0:
            return f"{self._display(key)} = {label}"
        return self._display(label)

    def display_frame(self, fmt: str = "markdown") -> pd.DataFrame:
        """Wide frame of printed cells: row-key columns, then one column per column tuple."""
        columns = self.column_tuples()
        by_cell = {
            (tuple(r[k] for k in self.row_keys), tuple(r[k] for k in self.col_keys)): r
            for _, r in self.cells.iterrows()
        }
        header = [" / ".join(self._header(k, v) for k, v in zip(self.col_keys, col)) for col in columns]
        records = []
        for row in self.row_tuples():
            record = {self._display(k): self._display(v) for k, v in zip(self.row_keys, row)}
            for col, head in zip(columns, header):
                cell = by_cell.get((row, col))
                # a published row without a number for this column: not reported, not missing
                record[head] = NOT_APPLICABLE if cell is None else self.cell_text(cell, fmt)
            records.append(record)
        return pd.DataFrame(records, columns=[self._display(k) for k in self.row_keys] + header)

    # ----- outputs -----
    def legend(self) -> str:
        if self.interval is not None:
            parts = [
                f"mean [{self.interval:.0%} t-interval] over seeds (n = number of seeds; "
                "no interval for a single seed)"
            ]
            parts.append(
                f"{WORSE}: worse than the column's best at α = {self.alpha:g}, "
                f"{PAIRED_TEST_NAMES[self.paired]} on common seeds, Holm-adjusted per column"
            )
        else:
            parts = ["mean ± std over seeds (n = number of seeds)"]
        if self.cells.best.any():
            parts.append("bold: best measured value per column")
        parts.append("missing: the run is absent (never counted as zero)")
        if (self.cells.source == "published").any():
            parts.append("[published] rows are quoted from their source, not measured")
        return "; ".join(parts) + "."

    def to_markdown(self) -> str:
        frame = self.display_frame("markdown")
        text = frame.to_markdown(index=False, disable_numparse=True)
        notes = " ".join([self.legend(), *self.notes])
        return f"{text}\n\n<sub>{notes}</sub>\n"

    def to_latex(self) -> str:
        """A booktabs ``table`` float: caption, label ``tab:<name>``, the best measured cell of
        each column in bold, missing cells in italics, published rows below a rule, and the
        legend and notes under the tabular. Every text is escaped by :func:`_latex_escape`."""
        frame = self.display_frame("text")
        n_keys = len(self.row_keys)
        keys, values = list(frame.columns[:n_keys]), list(frame.columns[n_keys:])
        best = self._cell_flags(frame, "best")
        missing = frame[values] == MISSING
        # positions, not labels: two columns may print alike after the labels are applied
        frame.columns = range(frame.shape[1])
        styler = frame.style.hide(axis="index")
        styler = styler.format(_latex_escape, subset=list(range(n_keys)))
        styler = styler.format(_latex_value, subset=list(range(n_keys, frame.shape[1])))
        styler = styler.format_index(lambda i: _latex_escape(([*keys, *values])[i]), axis=1)
        marks = pd.DataFrame("", index=frame.index, columns=frame.columns, dtype=object)  # any row count
        marks.iloc[:, n_keys:] = np.where(
            best.to_numpy(), "textbf: --rwrap;", np.where(missing.to_numpy(), "textit: --rwrap;", "")
        )
        styler = styler.apply(lambda _: marks, axis=None)
        published_rows = np.flatnonzero(self._published_rows(frame.iloc[:, 0]))
        if len(published_rows):
            # a rule between the measured rows and the quoted ones: \midrule may open a row
            first = published_rows[0]
            styler = styler.format(lambda v: r"\midrule " + _latex_escape(v), subset=([first], [0]))
        latex = styler.to_latex(
            column_format="l" * n_keys + "r" * len(values),
            position="t",
            position_float="centering",
            hrules=True,
            label=f"tab:{self.name}",
            caption=_latex_escape(self.title),
            environment="table",
        )
        notes = rf"\par\smallskip{{\footnotesize {_latex_escape(' '.join([self.legend(), *self.notes]))}}}"
        body, end, tail = latex.rpartition(r"\end{table}")
        if not end:
            raise RuntimeError("pandas' LaTeX output has no \\end{table}; cannot place the table notes")
        return body + notes + "\n" + end + tail

    def _cell_flags(self, frame: pd.DataFrame, flag: str) -> pd.DataFrame:
        """A boolean frame like the value columns of ``frame`` (a :meth:`display_frame`): the
        ``flag`` column (e.g. ``best``) of the cell printed at each position."""
        by_cell = {
            (tuple(r[k] for k in self.row_keys), tuple(r[k] for k in self.col_keys)): bool(r[flag])
            for _, r in self.cells.iterrows()
        }
        rows, columns = self.row_tuples(), self.column_tuples()
        flags = [[by_cell.get((row, col), False) for col in columns] for row in rows]
        return pd.DataFrame(flags, index=frame.index, columns=frame.columns[len(self.row_keys) :])

    def _published_rows(self, first_keys: pd.Series) -> np.ndarray:
        rows = self.cells.loc[self.cells.source == "published", self.row_keys[0]]
        published = {self._display(p) for p in rows}
        return first_keys.isin(published).to_numpy()

    def to_html(self) -> str:
        frame = self.display_frame("html")
        for column in frame.columns[: len(self.row_keys)]:
            frame[column] = frame[column].map(html.escape)
        frame.columns = [html.escape(c) for c in frame.columns]
        body = frame.to_html(index=False, escape=False, border=0, classes="results-table")
        notes = html.escape(" ".join([self.legend(), *self.notes]))
        style = (
            "<style>.results-table{border-collapse:collapse;font-family:sans-serif;font-size:13px}"
            ".results-table th,.results-table td{padding:3px 8px;border-bottom:1px solid #ddd;"
            "text-align:right}.results-table th{border-bottom:2px solid #333}</style>"
        )
        return (
            f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(self.title)}'
            f"</title>{style}</head><body>\n<h3>{html.escape(self.title)}</h3>\n{body}\n"
            f"<p><small>{notes}</small></p>\n</body></html>\n"
        )

    def to_csv_frame(self) -> pd.DataFrame:
        frame = self.cells.copy()
        frame.insert(0, "table", self.name)
        frame["text"] = [self.cell_text(c, "markdown") for _, c in self.cells.iterrows()]
        return frame

    def write(self, csv=None, md=None, tex=None, html_path=None) -> None:
        """Write any of the four formats, each atomically."""
        if csv:
            write_csv(csv, self.to_csv_frame())
        if md:
            write_text(md, self.to_markdown())
        if tex:
            write_text(tex, self.to_latex())
        if html_path:
            write_text(html_path, self.to_html())


def _latex_escape(text) -> str:
    """``text`` as LaTeX source: special characters escaped, the symbols the tables print
    (±, τ, ≤, ∝, —) as their commands."""
    replacements = {
        "\\": r"\textbackslash{}",
        "&": r"\&",
        "%": r"\%",
        "$": r"\$",
        "#": r"\#",
        "_": r"\_",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
        "±": r"$\pm$",
        "∝": r"$\propto$",
        "τ": r"$\tau$",
        "≤": r"$\leq$",
        "—": "--",
        "†": r"\textsuperscript{\dag}",
        "α": r"$\alpha$",
    }
    return "".join(replacements.get(ch, ch) for ch in str(text))


_SEED_COUNT = re.compile(r" (\([^()]*\))$")


def _latex_value(text) -> str:
    """A printed cell as LaTeX: escaped, with its trailing ``(n; annotation)`` small."""
    return _SEED_COUNT.sub(r" {\\scriptsize \1}", _latex_escape(text))


def _labelled(values: Iterable, n_keys: int) -> list[tuple]:
    out = []
    for value in values:
        value = value if isinstance(value, (tuple, list)) else (value,)
        if len(value) != n_keys:
            raise ValueError(f"expected {n_keys} key(s) per entry, got {value!r}")
        out.append(tuple(key_label(v) for v in value))
    return out


def _ordered(expected: list[tuple], observed: Iterable[tuple]) -> list[tuple]:
    extra = sorted(set(observed) - set(expected), key=lambda t: tuple(_sort_key(v) for v in t))
    return list(dict.fromkeys(expected)) + extra


def _direction(better, column: dict[str, str]) -> str | None:
    if better is None or isinstance(better, str):
        return better
    if "metric" not in column:
        raise ValueError("a per-metric 'better' mapping needs 'metric' among the column keys")
    return better.get(column["metric"])


def summary_table(
    frame: pd.DataFrame,
    *,
    name: str,
    title: str,
    rows: Sequence[str],
    columns: Sequence[str],
    better: str | Mapping[str, str] | None = None,
    expected_rows: Iterable = (),
    expected_columns: Iterable = (),
    published: pd.DataFrame | None = None,
    digits: int = 3,
    scale: float = 1.0,
    annotate: str | None = None,
    labels: Mapping[str, str] | None = None,
    notes: Sequence[str] = (),
    unranked: Iterable[str] = (),
    interval: float | None = None,
    paired: str | None = None,
    alpha: float = 0.05,
) -> ResultTable:
    """Mean ± std over seeds per (row, column) cell of tidy metrics ``frame``.

    ``frame`` holds the rows to tabulate (already filtered to the table's
    metric(s)); ``rows`` and ``columns`` name its key columns. Every remaining
    difference between two rows of one cell must be the seed: two values for
    the same cell and seed are an error, since averaging them would count a
    seed twice. ``better``: ``"max"``, ``"min"``, ``None`` (no bold), or a
    mapping metric -> direction when ``metric`` is a column key.
    ``expected_rows`` / ``expected_columns``: key tuples (or single values) that
    must appear even without any run, so that a run that never happened shows as
    ``missing``. ``published``: rows with ``method``, the column keys, ``value``,
    ``relation`` and ``source``, appended as labelled reference rows. ``scale``
    multiplies measured values (e.g. 100 for percent). ``annotate``: a key whose
    value(s) are printed inside each cell (e.g. the temperature chosen on
    validation). ``unranked``: values of the first row key whose rows are shown
    but never bold (oracle references such as the true features).
    ``interval``: print each cell's t confidence interval at this confidence instead
    of the standard deviation; ``paired`` (with ``interval`` and ``better``): test each
    row against its column's best row on their common seeds (``t`` or ``wilcoxon``),
    Holm-adjusted per column at level ``alpha``.
    """
    rows, columns = list(rows), list(columns)
    if set(rows) & set(columns):
        raise ValueError(f"table {name}: keys {sorted(set(rows) & set(columns))} are both rows and columns")
    if better is not None and isinstance(better, str) and better not in BETTER:
        raise ValueError(f"table {name}: better must be one of {BETTER} or None, got {better!r}")
    if paired is not None and (interval is None or better is None):
        raise ValueError(f"table {name}: a paired comparison needs an interval and a 'better' direction")
    if paired is not None and paired not in MINIMUM_SEEDS:
        raise ValueError(f"table {name}: paired must be one of {sorted(MINIMUM_SEEDS)}, got {paired!r}")
    keys = rows + columns
    absent = [k for k in keys + ["value"] if k not in frame.columns]
    if absent:
        raise ValueError(f"table {name}: the metrics lack the column(s) {absent}")

    data = frame.copy()
    # A NaN value (a diverged run, an undefined quantity) is no measurement: its cell counts
    # it as missing, and the table says how many there were.
    not_a_number = data["value"].isna()
    if not_a_number.any():
        notes = [*notes, f"{int(not_a_number.sum())} value(s) were NaN and are counted as missing."]
        data = data[~not_a_number]
    for key in keys:
        data[key] = data[key].map(key_label)
    data["seed"] = data["seed"].map(key_label) if "seed" in data else NOT_APPLICABLE
    duplicated = data.duplicated(keys + ["seed"], keep=False)
    if duplicated.any():
        example = data.loc[duplicated, keys + ["seed"]].iloc[0].to_dict()
        raise ValueError(
            f"table {name}: {int(duplicated.sum())} values share a cell and a seed (e.g. {example}); "
            f"a key that distinguishes them is missing from rows {rows} / columns {columns}"
        )

    stats = {}
    seed_values: dict[tuple, dict[str, float]] = {}
    for cell_keys, group in data.groupby(keys, sort=False):
        values = group["value"].astype(float).to_numpy() * scale
        note = ""
        annotated = {key_label(v) for v in frame.loc[group.index, annotate]} if annotate else set()
        if annotated - {NOT_APPLICABLE}:
            note = ", ".join(sorted(annotated, key=_sort_key))
            note = f"{labels.get(annotate, annotate) if labels else annotate}={note}"
        stats[tuple(cell_keys)] = {
            "mean": float(np.mean(values)),
            "std": float(np.std(values, ddof=1)) if len(values) > 1 else float("nan"),
            "n_seeds": len(values),
            "annotation": note,
        }
        if interval is not None:
            _, low, high = t_interval(values, interval)
            stats[tuple(cell_keys)].update(ci_low=low, ci_high=high)
            seed_values[tuple(cell_keys)] = dict(zip(group["seed"], values))

    observed_rows = {k[: len(rows)] for k in stats}
    observed_cols = {k[len(rows) :] for k in stats}
    row_tuples = _ordered(_labelled(expected_rows, len(rows)), observed_rows)
    published = published if published is not None else pd.DataFrame()
    published_cols = set()
    if len(published):
        published_cols = set(_labelled(published[columns].itertuples(index=False, name=None), len(columns)))
    col_tuples = _ordered(_labelled(expected_columns, len(columns)), observed_cols | published_cols)

    comparison_columns = (
        ["ci_low", "ci_high", "paired_seeds", "p_vs_best", "worse_than_best"] if interval is not None else []
    )
    empty = {
        "mean": float("nan"),
        "std": float("nan"),
        "n_seeds": 0,
        "annotation": "",
        "ci_low": float("nan"),
        "ci_high": float("nan"),
    }
    records = []
    for row, col in product(row_tuples, col_tuples):
        stat = {**empty, **stats.get(row + col, {})}
        records.append(
            {
                **dict(zip(rows, row)),
                **dict(zip(columns, col)),
                **stat,
                "source": "measured",
                "relation": "=",
                "best": False,
                "citation": "",
                "paired_seeds": 0,
                "p_vs_best": float("nan"),
                "worse_than_best": False,
            }
        )
    cells = pd.DataFrame(
        records,
        columns=keys
        + [
            "mean",
            "std",
            "n_seeds",
            "annotation",
            "source",
            "relation",
            "best",
            "citation",
            *comparison_columns,
        ],
    )

    # Bold: best measured mean per column, compared at the printed precision.
    for col in col_tuples:
        direction = _direction(better, dict(zip(columns, col)))
        if direction is None:
            continue
        mask = np.ones(len(cells), dtype=bool)
        for key, value in zip(columns, col):
            mask &= (cells[key] == value).to_numpy()
        mask &= (cells.n_seeds > 0).to_numpy()
        mask &= ~cells[rows[0]].isin({key_label(u) for u in unranked}).to_numpy()
        if not mask.any():
            continue
        printed = cells.loc[mask, "mean"].round(digits)
        target = printed.max() if direction == "max" else printed.min()
        cells.loc[printed.index[printed == target], "best"] = True
        if paired is not None:
            notes = [
                *notes,
                *_compare_with_best(cells, mask, rows, col, seed_values, direction, paired, alpha),
            ]

    if len(published):
        extra = []
        for _, pub in published.iterrows():
            label = f"{pub['method']} [published]"
            row = (label,) + (NOT_APPLICABLE,) * (len(rows) - 1)
            col = tuple(key_label(pub[k]) for k in columns)
            extra.append(
                {
                    **dict(zip(rows, row)),
                    **dict(zip(columns, col)),
                    "mean": float(pub["value"]),
                    "std": float("nan"),
                    "n_seeds": 0,
                    "annotation": "",
                    "source": "published",
                    "relation": pub.get("relation", "="),
                    "best": False,
                    "citation": pub.get("source", ""),
                }
            )
        cells = pd.concat([cells, pd.DataFrame(extra, columns=cells.columns)], ignore_index=True)
        citations = sorted(set(published.get("source", pd.Series(dtype=str)).dropna()))
        if citations:
            notes = [*notes, "Published: " + "; ".join(citations) + "."]

    return ResultTable(
        name=name,
        title=title,
        row_keys=rows,
        col_keys=columns,
        cells=cells,
        digits=digits,
        notes=list(dict.fromkeys(notes)),
        labels=dict(labels or {}),
        interval=interval,
        paired=paired,
        alpha=alpha,
    )


def _compare_with_best(
    cells: pd.DataFrame,
    mask: np.ndarray,
    rows: list[str],
    col: tuple,
    seed_values: Mapping[tuple, Mapping[str, float]],
    direction: str,
    test: str,
    alpha: float,
) -> list[str]:
    """Fill ``paired_seeds``, ``p_vs_best`` and ``worse_than_best`` of the ranked measured
    cells ``mask`` of one column: each against the cell with the best unrounded mean, on
    their common seeds; return notes on comparisons that lacked the seeds they need."""
    candidates = cells[mask]
    best_index = candidates["mean"].idxmax() if direction == "max" else candidates["mean"].idxmin()
    best_values = seed_values[tuple(cells.loc[best_index, rows]) + col]
    tested, p_values, short = [], [], []
    for index, cell in candidates.iterrows():
        if index == best_index:
            continue
        values = seed_values[tuple(cell[rows]) + col]
        common = sorted(set(values) & set(best_values), key=_sort_key)
        result = paired_test([values[s] for s in common], [best_values[s] for s in common], test)
        cells.loc[index, "paired_seeds"] = len(common)
        tested.append(index)
        p_values.append(result.p)
        if result.reason:
            short.append(result.reason)
    adjusted = holm(p_values)
    for index, p in zip(tested, adjusted):
        cells.loc[index, "p_vs_best"] = p
        cells.loc[index, "worse_than_best"] = bool(p <= alpha)
    if not short:
        return []
    return [
        f"No paired test where a row shares fewer than {MINIMUM_SEEDS[test]} seeds with the best "
        f"(the {PAIRED_TEST_NAMES[test]} needs at least {MINIMUM_SEEDS[test]}): such a cell is never "
        "called worse than the best."
    ]


def write_tables(tables: Iterable[ResultTable], directory: str | Path) -> list[Path]:
    """Write each table as ``<directory>/<name>.{csv,md,tex,html}``; return the paths."""
    directory = Path(directory)
    paths = []
    for table in tables:
        stem = directory / table.name
        table.write(
            csv=stem.with_suffix(".csv"),
            md=stem.with_suffix(".md"),
            tex=stem.with_suffix(".tex"),
            html_path=stem.with_suffix(".html"),
        )
        paths += [stem.with_suffix(s) for s in (".csv", ".md", ".tex", ".html")]
    return paths

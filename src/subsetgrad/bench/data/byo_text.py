"""Bring your own labelled text: a TSV/CSV of text and label, or token ids in an ``.npz``.

A config entry under the top-level ``datasets:`` key names the file::

    datasets:
      my_reviews:
        path: reviews.tsv          # or .csv: a header row, then one text and one label per row
        text_column: text          # the defaults
        label_column: label
        num_words: 5000            # vocabulary size, as the IMDB word level
        maxlen: 400                # tokens per text, cut and padded at the front
      my_ids:
        path: ids.npz              # arrays x (int [N, L] token ids, 0 = padding) and y
        kind: text
        num_words: 5000            # every id must be below it

and ``tasks.l2x.datasets: [my_reviews]`` explains it like ``imdb_word``: the text is
cleaned, split into words and encoded exactly as the IMDB word level
(:func:`subsetgrad.bench.data.imdb.encode_reviews`: ids = word rank + 3, 1 = start,
2 = out of vocabulary, the vocabulary ranked on the training and validation texts).

The file is validated before any training (:func:`read_text_table`,
:func:`read_token_npz`); every problem names its line (or array) and what to fix:
bytes that are not UTF-8, a row with the wrong number of fields, an empty text, a
missing label, a label that is not an integer, a single class; for token ids, missing
arrays, a non-integer dtype, ragged (object) sequences, negative ids and ids at or above
the vocabulary size. An ``.npz`` is loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np

from subsetgrad.bench.data import text
from subsetgrad.bench.data.core import DataError, Dataset, fraction_sizes, split_by_sizes
from subsetgrad.bench.data.download import user_file_source

#: File suffixes read as a table of text and label, with their field delimiter.
TABLE_DELIMITERS = {".tsv": "\t", ".csv": ","}
#: The IMDB word level (:data:`subsetgrad.bench.data.imdb.WORD_LEVEL`): vocabulary and length.
DEFAULT_NUM_WORDS = 5000
DEFAULT_MAXLEN = 400
#: Ids below this are reserved (0 padding, 1 start, 2 out of vocabulary) or unused (3): the
#: most frequent word has id 4, so a vocabulary needs at least 5 ids to hold one word.
MINIMUM_NUM_WORDS = 5
#: Problems listed in one error before the rest are counted.
MAX_PROBLEMS = 20


def is_text_entry(entry: dict) -> bool:
    """Whether a ``datasets:`` entry is text: ``kind: text``, or a .tsv/.csv path."""
    kind = entry.get("kind")
    if kind is not None:
        return kind == "text"
    return Path(entry["path"]).suffix.lower() in TABLE_DELIMITERS


def _raise(path: Path, problems: list[str], total: int | None = None) -> None:
    total = len(problems) if total is None else total
    shown = problems[:MAX_PROBLEMS]
    more = f"\n  ... and {total - len(shown)} more" if total > len(shown) else ""
    raise DataError(
        f"{path}: invalid text data ({total} problem(s)):\n" + "\n".join(f"  - {p}" for p in shown) + more
    )


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise DataError(
            f"{path}: line {line} is not valid UTF-8 (byte {raw[err.start]:#04x} at offset "
            f"{err.start}); save the file as UTF-8"
        ) from err


def read_text_table(
    path: str | Path, text_column: str = "text", label_column: str = "label", num_classes: int | None = None
) -> tuple[list[str], np.ndarray]:
    """Texts and integer labels of a TSV (``.tsv``) or CSV (``.csv``) with a header row.

    Fields may be quoted (``"..."``, doubled quotes inside) so that a text can hold the
    delimiter or a line break. Raises :class:`DataError` listing every bad line.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"bring-your-own text file {path} does not exist; check the dataset's `path` in "
            f"the config (relative paths start at the workflow directory)"
        )
    delimiter = TABLE_DELIMITERS.get(path.suffix.lower())
    if delimiter is None:
        raise DataError(f"{path}: a text table must end in {' or '.join(TABLE_DELIMITERS)}")
    content = _decode(path)
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as err:
        raise DataError(f"{path}: line 1 cannot be parsed ({err})") from err
    if not header or not any(h.strip() for h in header):
        raise DataError(
            f"{path}: the file is empty; it needs a header row naming the columns "
            f"{text_column!r} and {label_column!r}, then one row per text"
        )
    header = [h.strip() for h in header]
    absent = [c for c in (text_column, label_column) if c not in header]
    if absent:
        name = "tab" if delimiter == "\t" else "comma"
        raise DataError(
            f"{path}: line 1 (the header) has the column(s) {header} but not {absent}; the first "
            f"line must name the columns ({name}-separated), or set text_column / "
            f"label_column in the dataset's config entry"
        )
    text_at, label_at = header.index(text_column), header.index(label_column)
    texts, labels, problems, total = [], [], [], 0

    def problem(message: str) -> None:
        nonlocal total
        total += 1
        if len(problems) < MAX_PROBLEMS:
            problems.append(message)

    while True:
        line = reader.line_num + 1  # where the record starts (a quoted field may span lines)
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            problem(
                f"line {line}: cannot be parsed ({err}, at line {reader.line_num}); a field that starts "
                f'with a quote must be quoted as a whole with inner quotes doubled ("""Great"" film"), '
                f"and a quote opened must be closed"
            )
            break
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # a blank line
        if len(row) != len(header):
            hint = " (a tab inside an unquoted text?)" if delimiter == "\t" else " (an unquoted comma?)"
            problem(f"line {line}: {len(row)} field(s), but the header has {len(header)}{hint}")
            continue
        body, label = row[text_at], row[label_at].strip()
        if not body.strip():
            problem(f"line {line}: empty text in column {text_column!r}")
        elif not text.words(text.clean_review(body)):
            problem(
                f"line {line}: the text has no words after cleaning (markup, quotes and non-ASCII "
                f"characters are removed)"
            )
        if not label:
            problem(f"line {line}: missing label in column {label_column!r}")
            continue
        try:
            value = int(label)
        except ValueError:
            problem(f"line {line}: label {label!r} is not an integer; labels must be class ids 0..C-1")
            continue
        if value < 0:
            problem(f"line {line}: label {value} is negative; labels must be class ids 0..C-1")
            continue
        texts.append(body)
        labels.append(value)
    if problems:
        _raise(path, problems, total)
    y = np.asarray(labels, dtype=np.int64)
    _check_classes(path, y, num_classes)
    return texts, y


def _check_classes(path: Path, y: np.ndarray, num_classes: int | None) -> int:
    if y.size == 0:
        raise DataError(f"{path}: holds no labelled texts")
    present = np.unique(y)
    if present.size < 2:
        raise DataError(
            f"{path}: every text has the label {int(present[0])}; a classifier (the L2X black "
            f"box) needs at least two classes"
        )
    classes = num_classes if num_classes is not None else int(y.max()) + 1
    if int(y.max()) >= classes:
        raise DataError(
            f"{path}: label {int(y.max())} is not below num_classes = {classes} of the config "
            f"entry; labels must be class ids 0..{classes - 1}"
        )
    empty = sorted(set(range(classes)) - set(present.tolist()))
    if empty:
        raise DataError(
            f"{path}: class(es) {empty[:10]} have no text although labels go up to {classes - 1}; "
            f"remap the labels to consecutive integers 0..C-1"
        )
    return classes


def read_token_npz(
    path: str | Path,
    num_words: int = DEFAULT_NUM_WORDS,
    x_key: str | None = None,
    y_key: str | None = None,
    num_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Token ids ``x`` (integer ``[N, L]``, 0 = padding) and labels ``y`` of an ``.npz``, checked
    against the vocabulary size ``num_words``; loaded with ``allow_pickle=False``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"bring-your-own token file {path} does not exist; check the dataset's `path` in "
            f"the config (relative paths start at the workflow directory)"
        )
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: is not a readable .npz file (not a zip archive); write it with numpy.savez")
    arrays, ragged = {}, []
    try:
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                try:
                    arrays[key] = data[key]
                except ValueError:  # an object array: ragged sequences or Python objects
                    ragged.append(key)
    except Exception as err:  # zipfile.BadZipFile, EOFError, OSError: not a readable npz
        raise DataError(f"{path}: is not a readable .npz file ({type(err).__name__}: {err})") from err
    xk = x_key or ("x" if "x" in arrays or "x" in ragged else None)
    yk = y_key or ("y" if "y" in arrays or "y" in ragged else None)
    problems = []
    present = sorted([*arrays, *ragged])
    for what, key in (("x", xk), ("y", yk)):
        if key is None or key not in present:
            problems.append(
                f"no array {key or what!r} (the {'token ids' if what == 'x' else 'labels'}); "
                f"arrays present: {', '.join(present) or 'none'}"
            )
        elif key in ragged:
            problems.append(
                f"array {key!r} is an object array (ragged sequences or Python objects), which "
                f"is not loaded for safety; pad the sequences with 0 to one length and save an "
                f"integer array [N, L]"
            )
    if problems:
        _raise(path, problems)
    x, y = arrays[xk], arrays[yk]
    if not np.issubdtype(x.dtype, np.integer):
        problems.append(f"array {xk!r} has dtype {x.dtype}; token ids must be integers")
    if x.ndim != 2:
        problems.append(
            f"array {xk!r} has shape {x.shape}; token ids must be [N, L], one padded sequence per row"
        )
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        problems.append(f"array {yk!r} has shape {y.shape} and dtype {y.dtype}; labels must be integers [N]")
    if x.ndim >= 1 and y.ndim == 1 and len(x) != len(y):
        problems.append(f"{len(x)} token rows but {len(y)} labels; they must match")
    if not problems and x.size:
        negative = np.argwhere(x < 0)
        if len(negative):
            row, col = negative[0]
            problems.append(
                f"{len(negative)} negative token id(s), the first in row {row}, position {col} "
                f"({x[row, col]}); ids must be 0 (padding) .. num_words - 1"
            )
        too_large = np.argwhere(x >= num_words)
        if len(too_large):
            row, col = too_large[0]
            problems.append(
                f"{len(too_large)} token id(s) >= num_words = {num_words}, the first in row {row}, "
                f"position {col} ({x[row, col]}); raise num_words in the config entry or map rare "
                f"words to the out-of-vocabulary id 2"
            )
    if not problems and y.size and (y < 0).any():
        row = int(np.flatnonzero(y < 0)[0])
        problems.append(f"label {int(y[row])} in row {row} is negative; labels must be class ids 0..C-1")
    if problems:
        _raise(path, problems)
    _check_classes(path, y.astype(np.int64), num_classes)
    return x.astype(np.int32), y.astype(np.int64)


def validate_text_entry(entry: dict, base_dir: str | Path = ".") -> None:
    """Read and check the file of a text entry of ``datasets:`` (no tokenising)."""
    path = _resolve(entry, base_dir)
    if path.suffix.lower() in TABLE_DELIMITERS:
        read_text_table(
            path,
            entry.get("text_column", "text"),
            entry.get("label_column", "label"),
            entry.get("num_classes"),
        )
    else:
        read_token_npz(
            path,
            entry.get("num_words", DEFAULT_NUM_WORDS),
            entry.get("x_key"),
            entry.get("y_key"),
            entry.get("num_classes"),
        )


def _resolve(entry: dict, base_dir: str | Path) -> Path:
    path = Path(entry["path"])
    return path if path.is_absolute() else Path(base_dir) / path


def prepare_text(name: str, entry: dict, split_seed: int, base_dir: str | Path = ".") -> Dataset:
    """A word-level text dataset from a text entry of ``datasets:`` (see the module docstring)."""
    path = _resolve(entry, base_dir)
    num_words = int(entry.get("num_words", DEFAULT_NUM_WORDS))
    maxlen = entry.get("maxlen")
    if path.suffix.lower() in TABLE_DELIMITERS:
        texts, y = read_text_table(
            path,
            entry.get("text_column", "text"),
            entry.get("label_column", "label"),
            entry.get("num_classes"),
        )
    else:
        x, y = read_token_npz(
            path, num_words, entry.get("x_key"), entry.get("y_key"), entry.get("num_classes")
        )
    split = _split(path, y, entry, split_seed)
    if path.suffix.lower() in TABLE_DELIMITERS:
        from subsetgrad.bench.data.imdb import encode_reviews

        by_split = {s: [texts[i] for i in idx] for s, idx in split.items()}
        encoded, vocabulary, settings = encode_reviews(
            by_split, "word", num_words=num_words, maxlen=int(maxlen or DEFAULT_MAXLEN)
        )
        arrays = {f"x_{s}": encoded[s] for s in split}
        arrays["vocabulary"] = vocabulary
    else:
        if maxlen is not None:  # cut and pad at the front, as the word level does
            x = text.pad_pre([row[row != 0] for row in x], int(maxlen))
        arrays = {f"x_{s}": x[idx] for s, idx in split.items()}
        settings = {"encoding": "token_ids", "num_words": num_words, "maxlen": int(x.shape[1])}
    arrays.update({f"y_{s}": y[idx] for s, idx in split.items()})
    meta = {
        "description": entry.get("description", f"bring-your-own text from {path}"),
        "kind": "text",
        "source_files": [user_file_source(path)],
        "split_seed": split_seed,
        "split_sizes": {s: int(len(i)) for s, i in split.items()},
        "num_classes": int(entry.get("num_classes") or int(y.max()) + 1),
        **settings,
    }
    return Dataset(name, arrays, meta)


def _split(path: Path, y: np.ndarray, entry: dict, split_seed: int) -> dict[str, np.ndarray]:
    n = len(y)
    n_val, n_test = fraction_sizes(entry, n)
    if min(n_test, n_val) < 1 or n - n_test - n_val < 2:
        raise DataError(
            f"{path}: {n} labelled texts are too few for a training, a validation and a test "
            f"split (val_fraction {entry.get('val_fraction', 0.1)}, test_fraction "
            f"{entry.get('test_fraction', 0.2)}); provide more texts"
        )
    return split_by_sizes(y, n_val, n_test, split_seed)

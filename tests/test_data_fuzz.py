"""A fuzz corpus of malformed data files, like tests/bad_configs for configs.

Each case of :data:`CORPUS` writes one malformed file (bring-your-own ``.npz`` read by the
prepare rule, a bring-your-own text table or token-id ``.npz`` for L2X, or a prepared dataset
read by every training job) from a small spec, and
the file must be rejected with a :class:`DataError` whose message names the file and the
problem, before any training. A last test shows that a workflow script stopped by such an
error writes the message alone to its log, without a traceback.
"""

import io
import re
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from subsetgrad.bench.data import DataError, load_dataset, prepare_byo


def _labels(n: int, classes: int = 2) -> np.ndarray:
    return np.arange(n) % classes


def _npz(**arrays):
    def build(path: Path) -> None:
        with open(path, "wb") as handle:
            np.savez(handle, **arrays)

    return build


def _raw(data: bytes):
    return lambda path: path.write_bytes(data)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array)
    return buffer.getvalue()


def _truncated(**arrays):
    def build(path: Path) -> None:
        _npz(**arrays)(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) * 2 // 3])

    return build


def _flipped(**arrays):
    """A bit flipped inside a compressed member: the zip directory is intact."""

    def build(path: Path) -> None:
        with open(path, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        data = bytearray(path.read_bytes())
        data[100] ^= 0x55
        path.write_bytes(bytes(data))

    return build


def _zip_bomb_declared_size(**arrays):
    """A deflated .npz whose members declare ~4 GB uncompressed (headers patched)."""

    def build(path: Path) -> None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for key, value in arrays.items():
                archive.writestr(f"{key}.npy", _npy_bytes(value))
        data = bytearray(buffer.getvalue())
        for signature, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
            start = data.find(signature)
            while start != -1:
                data[start + offset : start + offset + 4] = struct.pack("<I", 0xFFFFFFF0)
                start = data.find(signature, start + 4)
        path.write_bytes(bytes(data))

    return build


def _huge_header(**arrays):
    """A member whose .npy header declares 10**12 float64 values but holds a few."""

    def build(path: Path) -> None:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
            for key, value in arrays.items():
                member = _npy_bytes(value)
                if key == "x":
                    member = member.replace(repr(value.shape).encode(), b"(1000000000000, 2)", 1)
                archive.writestr(f"{key}.npy", member)

    return build


def _zip_of_text(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.csv", "1,2\n3,4\n")


def _object_array(values) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


X, Y = np.zeros((12, 3), np.float32), _labels(12)
NAN_X = X.copy()
NAN_X[4, 1] = np.nan
INF_X = X.copy()
INF_X[7, 0] = np.inf


def _prepared(**overrides):
    """A prepared dataset (train/val/test splits) with ``overrides`` (None drops an array)."""
    arrays = {
        "x_train": np.zeros((8, 3), np.float32),
        "y_train": _labels(8),
        "x_val": np.zeros((4, 3), np.float32),
        "y_val": _labels(4),
        "x_test": np.zeros((4, 3), np.float32),
        "y_test": _labels(4),
    }
    arrays.update(overrides)
    return _npz(**{key: value for key, value in arrays.items() if value is not None})


def _prepared_with_sidecar(sidecar: str, **overrides):
    def build(path: Path) -> None:
        _prepared(**overrides)(path)
        path.with_suffix(".json").write_text(sidecar)

    return build


#: (case, kind, writes the file, what the message must say besides the path); kind is "byo",
#: "text" (a .tsv), "text_ids" (an .npz of kind text) or "prepared"
CORPUS = [
    ("byo_text_file", "byo", _raw(b"x,y\n1,0\n"), "not a readable .npz file"),
    ("byo_empty_file", "byo", _raw(b""), "not a readable .npz file"),
    ("byo_npy_not_npz", "byo", _raw(_npy_bytes(X)), "not a readable .npz file"),
    ("byo_truncated_zip", "byo", _truncated(x=X, y=Y), "not a readable .npz file"),
    (
        "byo_flipped_bit",
        "byo",
        _flipped(x=np.arange(600.0).reshape(200, 3), y=_labels(200)),
        "not a readable",
    ),
    ("byo_zip_bomb_declared_size", "byo", _zip_bomb_declared_size(x=X, y=Y), "zip bomb"),
    ("byo_header_declares_huge_shape", "byo", _huge_header(x=X, y=Y), r"declares shape \(1000000000000, 2\)"),
    ("byo_zip_of_text", "byo", _zip_of_text, "is not a .npy array"),
    ("byo_no_arrays", "byo", _npz(), "needs an array named 'x' or 'images'"),
    ("byo_wrong_keys", "byo", _npz(features=X, target=Y), "needs an array named 'x' or 'images'"),
    ("byo_no_labels", "byo", _npz(x=X), "needs an array named 'y' or 'labels'"),
    ("byo_two_feature_keys", "byo", _npz(x=X, images=X, y=Y), "has both 'x' and 'images'"),
    ("byo_object_features", "byo", _npz(x=_object_array([[1.0]] * 12), y=Y), r"object \(pickled\)"),
    (
        "byo_ragged_features",
        "byo",
        _npz(x=_object_array([[1.0], [1.0, 2.0]] * 6), y=Y),
        r"object \(pickled\)",
    ),
    ("byo_object_labels", "byo", _npz(x=X, y=_object_array(list(range(12)))), r"object \(pickled\)"),
    ("byo_string_features", "byo", _npz(x=np.array([["a", "b"]] * 12), y=Y), "features have dtype <U1"),
    ("byo_string_labels", "byo", _npz(x=X, y=np.array(["cat", "dog"] * 6)), "labels have dtype <U3"),
    ("byo_complex_features", "byo", _npz(x=X.astype(np.complex64), y=Y), "complex"),
    ("byo_bool_labels", "byo", _npz(x=X, y=Y.astype(bool)), "labels have dtype bool"),
    ("byo_1d_features", "byo", _npz(x=np.zeros(12), y=Y), "at least one feature axis"),
    ("byo_no_feature_values", "byo", _npz(x=np.zeros((12, 0)), y=Y), "no values per sample"),
    ("byo_2d_labels", "byo", _npz(x=X, y=Y.reshape(6, 2)), "one integer per sample"),
    ("byo_mismatched_lengths", "byo", _npz(x=X, y=_labels(10)), "12 feature rows but 10 labels"),
    ("byo_empty_arrays", "byo", _npz(x=np.zeros((0, 3)), y=np.zeros(0, np.int64)), "holds no samples"),
    (
        "byo_nan_features",
        "byo",
        _npz(x=NAN_X, y=Y),
        "NaN or infinite values .in 1 sample.s., first at index 4",
    ),
    ("byo_inf_features", "byo", _npz(x=INF_X, y=Y), "first at index 7"),
    ("byo_nan_labels", "byo", _npz(x=X, y=np.where(Y == 1, np.nan, 0.0)), "labels contain NaN"),
    ("byo_fractional_labels", "byo", _npz(x=X, y=Y + 0.5), "not whole numbers"),
    ("byo_negative_labels", "byo", _npz(x=X, y=Y - 1), r"labels must lie in 0..0, found -1..0"),
    ("byo_missing_class", "byo", _npz(x=X, y=Y * 2), r"classes \[1\] have no sample"),
    ("byo_single_class", "byo", _npz(x=X, y=np.zeros(12, np.int64)), "only one class"),
    ("prepared_not_a_zip", "prepared", _raw(b"\x00" * 64), "not a readable .npz file"),
    ("prepared_truncated", "prepared", _truncated(x_train=X, y_train=Y), "not a readable .npz file"),
    (
        "prepared_missing_split",
        "prepared",
        _prepared(x_test=None, y_test=None),
        r"lacks arrays \['x_test', 'y_test'\]",
    ),
    ("prepared_object_array", "prepared", _prepared(x_val=_object_array([[0.0]] * 4)), r"object \(pickled\)"),
    (
        "prepared_float_labels",
        "prepared",
        _prepared(y_train=_labels(8).astype(np.float32)),
        "labels must be integers",
    ),
    (
        "prepared_mismatched_lengths",
        "prepared",
        _prepared(y_val=_labels(3)),
        r"x_val has shape \(4, 3\) and y_val \(3,\)",
    ),
    (
        "prepared_nan_features",
        "prepared",
        _prepared(x_test=np.full((4, 3), np.nan, np.float32)),
        "x_test contains NaN",
    ),
    (
        "prepared_split_shapes_differ",
        "prepared",
        _prepared(x_val=np.zeros((4, 5), np.float32)),
        "differ in shape",
    ),
    (
        "prepared_empty_train",
        "prepared",
        _prepared(x_train=np.zeros((0, 3), np.float32), y_train=np.zeros(0, np.int64)),
        "train split is empty",
    ),
    (
        "prepared_labels_out_of_range",
        "prepared",
        _prepared_with_sidecar('{"num_classes": 2}', y_test=np.array([0, 1, 2, 1])),
        r"y_test holds labels 0..2, outside 0..1",
    ),
    ("prepared_broken_sidecar", "prepared", _prepared_with_sidecar("{not json"), "is not readable JSON"),
    (
        "prepared_zip_bomb_declared_size",
        "prepared",
        _zip_bomb_declared_size(x_train=X, y_train=Y),
        "zip bomb",
    ),
    (
        "text_wrong_field_count",
        "text",
        _raw(b"text\tlabel\ngood film\t1\nbad\tfilm\t0\n"),
        "line 3",
    ),
    ("text_empty_text", "text", _raw(b"text\tlabel\ngood film\t1\n\t0\n"), "line 3.*empty"),
    ("text_missing_label", "text", _raw(b"text\tlabel\ngood film\t1\nbad film\t\n"), "line 3.*label"),
    ("text_label_not_integer", "text", _raw(b"text\tlabel\ngood film\t1\nbad film\tneg\n"), "line 3.*neg"),
    ("text_not_utf8", "text", _raw(b"text\tlabel\ngood film\t1\nbad \xff film\t0\n"), "line 3.*UTF-8"),
    ("text_no_label_column", "text", _raw(b"review\tsentiment\ngood film\t1\n"), "line 1"),
    ("text_single_class", "text", _raw(b"text\tlabel\ngood film\t1\nfine film\t1\n"), "label 1"),
    (
        "text_ids_beyond_vocabulary",
        "text_ids",
        _npz(x=np.array([[1, 5], [2, 70000]]), y=np.array([0, 1])),
        "num_words",
    ),
    (
        "text_ids_negative",
        "text_ids",
        _npz(x=np.array([[1, -5], [2, 7]]), y=np.array([0, 1])),
        "negative",
    ),
]


def test_the_corpus_is_large_and_covers_both_formats():
    assert len(CORPUS) >= 30
    assert len({case for case, *_ in CORPUS}) == len(CORPUS)
    assert {kind for _, kind, *_ in CORPUS} == {"byo", "prepared", "text", "text_ids"}


@pytest.mark.parametrize("case, kind, build, problem", CORPUS, ids=[case for case, *_ in CORPUS])
def test_a_malformed_data_file_is_rejected_naming_the_file_and_the_problem(
    tmp_path, case, kind, build, problem
):
    path = tmp_path / f"{case}{'.tsv' if kind == 'text' else '.npz'}"
    build(path)
    with pytest.raises(DataError) as raised:
        if kind in ("byo", "text"):
            prepare_byo(case, {"path": str(path)}, split_seed=0)
        elif kind == "text_ids":
            prepare_byo(case, {"path": str(path), "kind": "text"}, split_seed=0)
        else:
            load_dataset(path)
    message = str(raised.value)
    assert str(path) in message or str(path.with_suffix(".json")) in message, message
    assert re.search(problem, message), message


def test_a_well_formed_file_of_the_same_builders_is_accepted(tmp_path):
    """The builders make valid files when nothing is wrong: the rejections above are the
    malformations', not the builders'."""
    _npz(x=X, y=Y)(tmp_path / "ok.npz")
    assert prepare_byo("ok", {"path": str(tmp_path / "ok.npz")}, split_seed=0).meta["num_classes"] == 2
    _prepared_with_sidecar('{"num_classes": 2}')(tmp_path / "prepared.npz")
    assert len(load_dataset(tmp_path / "prepared.npz").y("train")) == 8


SCRIPT = """
import sys
from types import SimpleNamespace
from subsetgrad.bench.workflow_log import redirect_to_log
from subsetgrad.bench.data import load_dataset
redirect_to_log(SimpleNamespace(log=[sys.argv[1]], config={}))
load_dataset(sys.argv[2])
"""


def test_a_job_stopped_by_a_bad_data_file_logs_the_message_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.npz"
    _prepared(y_val=_labels(3))(bad)
    log = tmp_path / "job.log"
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(log), str(bad)], capture_output=True, text=True
    )
    assert result.returncode == 1
    text = log.read_text()
    assert text.startswith(f"error: prepared dataset {bad} is invalid") and "Traceback" not in text, text

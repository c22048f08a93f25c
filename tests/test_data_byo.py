"""Bring-your-own .npz data and the config checks of dataset names."""

import numpy as np
import pytest

from subsetgrad.bench.data import DataError, load_dataset, prepare_byo, save_dataset
from subsetgrad.bench.data.config_checks import datasets_are_known


def write(path, **arrays):
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def labels(n, classes=3):
    return np.arange(n) % classes


def test_feature_matrix_is_split_stratified_and_deterministic(tmp_path):
    rng = np.random.default_rng(0)
    path = write(tmp_path / "mine.npz", x=rng.normal(size=(100, 7)), y=labels(100, 4))
    entry = {"path": str(path), "val_fraction": 0.1, "test_fraction": 0.2}
    ds = prepare_byo("mine", entry, split_seed=0)
    assert [len(ds.y(s)) for s in ("train", "val", "test")] == [70, 10, 20]
    assert ds.x("train").dtype == np.float32 and ds.x("train").shape[1] == 7
    assert np.bincount(ds.y("test")).tolist() == [5, 5, 5, 5]
    assert ds.num_classes == 4 and ds.meta["kind"] == "tabular"
    again = prepare_byo("mine", entry, split_seed=0)
    np.testing.assert_array_equal(ds.x("test"), again.x("test"))
    other = prepare_byo("mine", entry, split_seed=1)
    assert not np.array_equal(ds.x("test"), other.x("test"))
    save_dataset(ds, tmp_path / "prepared/mine.npz")
    assert load_dataset(tmp_path / "prepared/mine.npz").meta["source_files"][0]["name"] == "mine.npz"


def test_channels_last_uint8_images_become_channels_first_in_unit_interval(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(30, 8, 8, 3), dtype=np.uint8)
    path = write(
        tmp_path / "imgs.npz", images=images, labels=labels(30), class_names=np.array(["a", "b", "c"])
    )
    ds = prepare_byo("imgs", {"path": str(path)}, split_seed=0)
    assert ds.x("train").shape[1:] == (3, 8, 8) and ds.meta["x_scale"] == 255.0
    assert ds.meta["class_names"] == ["a", "b", "c"]
    save_dataset(ds, tmp_path / "p/imgs.npz")
    loaded = load_dataset(tmp_path / "p/imgs.npz")
    assert loaded.x("test").dtype == np.float32 and 0 <= loaded.x("test").min() <= loaded.x("test").max() <= 1
    everything = np.concatenate([loaded.x(s) for s in ("train", "val", "test")]) * 255
    assert sorted(map(bytes, np.rint(everything).astype(np.uint8))) == sorted(
        map(bytes, images.transpose(0, 3, 1, 2).copy())
    )


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x": np.zeros((10, 2)), "y": labels(9)}, "10 feature rows but 9 labels"),
        ({"x": np.zeros((10, 2)), "y": labels(10).reshape(5, 2)}, "labels have shape (5, 2)"),
        ({"x": np.zeros(10), "y": labels(10)}, "features have shape (10,)"),
        (
            {"x": np.where(np.eye(10, 3) > 0, np.nan, 0.0), "y": labels(10)},
            "NaN or infinite values (in 3 sample",
        ),
        ({"x": np.zeros((10, 2)), "y": labels(10) + 0.5}, "not whole numbers"),
        ({"x": np.zeros((10, 2)), "y": labels(10) - 1}, "labels must lie in 0..1"),
        ({"x": np.zeros((10, 2)), "y": labels(10) * 2}, "classes [1, 3] have no sample"),
        ({"x": np.zeros((10, 2)), "y": np.zeros(10, dtype=int)}, "only one class"),
        ({"x": np.array([["a", "b"]] * 10), "y": labels(10)}, "dtype <U1; they must be numeric"),
        ({"features": np.zeros((10, 2)), "y": labels(10)}, "needs an array named 'x' or 'images'"),
        ({"x": np.zeros((10, 2)), "images": np.zeros((10, 2)), "y": labels(10)}, "has both 'x' and 'images'"),
    ],
)
def test_invalid_files_are_rejected_with_what_to_fix(tmp_path, arrays, message):
    path = write(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError) as info:
        prepare_byo("bad", {"path": str(path)}, split_seed=0)
    assert message in str(info.value) and str(path) in str(info.value)


def test_num_classes_from_config_bounds_the_labels(tmp_path):
    path = write(tmp_path / "d.npz", x=np.zeros((12, 2)), y=labels(12, 4))
    with pytest.raises(DataError, match=r"labels must lie in 0..2 \(num_classes in the config\)"):
        prepare_byo("d", {"path": str(path), "num_classes": 3}, split_seed=0)


def test_missing_unreadable_and_pickled_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        prepare_byo("d", {"path": str(tmp_path / "nope.npz")}, 0)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable .npz"):
        prepare_byo("d", {"path": str(tmp_path / "junk.npz")}, 0)
    ragged = np.empty(10, dtype=object)
    ragged[:] = [[1]] * 10
    path = write(tmp_path / "obj.npz", x=ragged, y=labels(10))
    with pytest.raises(DataError, match="object .pickled. arrays"):
        prepare_byo("d", {"path": str(path)}, 0)


def test_pinned_sha256_must_match(tmp_path):
    path = write(tmp_path / "d.npz", x=np.zeros((12, 2)), y=labels(12))
    with pytest.raises(DataError, match="datasets.d.sha256"):
        prepare_byo("d", {"path": str(path), "sha256": "0" * 64}, 0)


def test_relative_path_starts_at_the_base_dir(tmp_path):
    write(tmp_path / "d.npz", x=np.zeros((12, 2)), y=labels(12))
    ds = prepare_byo("d", {"path": "d.npz"}, 0, base_dir=tmp_path)
    assert sum(len(ds.y(s)) for s in ("train", "val", "test")) == 12


def test_config_check_accepts_builtin_and_declared_names():
    config = {
        "datasets": {"mine": {"path": "m.npz"}},
        "tasks": {
            "knn": {"datasets": ["digits", "mnist", "mine"]},
            "tsne": {"dataset": "mine"},
            "synthetic": {"k": 2},
        },
    }
    assert datasets_are_known(config) == []


def test_config_check_names_unknown_datasets_and_shadowing():
    config = {
        "datasets": {"mnist": {"path": "m.npz"}},
        "tasks": {"knn": {"datasets": ["digits", "mnsit"]}, "tsne": {"dataset": "nope"}},
    }
    problems = datasets_are_known(config)
    assert len(problems) == 3
    assert any("'datasets.mnist'" in p and "is a builtin dataset" in p for p in problems)
    assert any("'tasks.knn.datasets[1]'" in p and "unknown dataset 'mnsit'" in p for p in problems)
    assert any("'tasks.tsne.dataset'" in p and "declare your own" in p for p in problems)

"""Bring-your-own text for L2X: a TSV/CSV of text and label or token ids in an .npz, validated
line by line before training, encoded as the IMDB word level; and an L2X run on a user's TSV
from config alone."""

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, run_snakemake

from subsetgrad.bench.config import ConfigError, validate_config
from subsetgrad.bench.data import DataError, prepare_byo
from subsetgrad.bench.data import text as text_module
from subsetgrad.bench.data.byo_text import read_text_table, read_token_npz
from subsetgrad.bench.data.core import split_by_sizes
from subsetgrad.bench.data.imdb import encode_reviews

POSITIVE = ["a great and moving film", "wonderful acting, a fine story", "good fun from start to end"]
NEGATIVE = ["a dull and boring film", "awful acting, a poor story", "bad from start to end"]


def reviews_tsv(path, n=60, delimiter="\t"):
    rows = ["text" + delimiter + "label"]
    for i in range(n):
        body = (POSITIVE if i % 2 else NEGATIVE)[i % 3] + f" number {i}"
        rows.append((f'"{body}"' if delimiter == "," else body) + delimiter + str(i % 2))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_tsv_is_encoded_as_the_imdb_word_level_and_split_stratified(tmp_path):
    path = reviews_tsv(tmp_path / "reviews.tsv")
    entry = {"path": str(path), "num_words": 30, "maxlen": 12}
    ds = prepare_byo("mine", entry, split_seed=0)
    assert [len(ds.y(s)) for s in ("train", "val", "test")] == [42, 6, 12]
    assert ds.meta["kind"] == "text" and ds.meta["num_words"] == 30 and ds.meta["num_classes"] == 2
    assert ds.x("train").dtype == np.int32 and ds.x("train").shape == (42, 12)
    assert np.bincount(ds.y("test")).tolist() == [6, 6]
    # exactly the IMDB word level on the same stratified split (vocabulary from train + val)
    texts, y = read_text_table(path)
    split = split_by_sizes(y, 6, 12, 0)
    encoded, vocabulary, _ = encode_reviews(
        {s: [texts[i] for i in idx] for s, idx in split.items()}, "word", num_words=30, maxlen=12
    )
    for name, idx in split.items():
        np.testing.assert_array_equal(ds.x(name), encoded[name])
        np.testing.assert_array_equal(ds.y(name), y[idx])
    np.testing.assert_array_equal(vocabulary, ds.arrays["vocabulary"])
    assert (ds.x("test") == text_module.START).sum(axis=1).tolist() == [1] * 12
    assert ds.x("train").max() < 30


def test_csv_with_quoted_commas_reads_like_the_tsv(tmp_path):
    tsv = prepare_byo("a", {"path": str(reviews_tsv(tmp_path / "r.tsv"))}, split_seed=0)
    csv = prepare_byo("b", {"path": str(reviews_tsv(tmp_path / "r.csv", delimiter=","))}, split_seed=0)
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(tsv.x(split), csv.x(split))
        np.testing.assert_array_equal(tsv.y(split), csv.y(split))


@pytest.mark.parametrize(
    "lines, message",
    [
        (["ok text\t1", "\t0"], "line 3: empty text in column 'text'"),
        (["ok text\t1", "more text\t"], "line 3: missing label in column 'label'"),
        (["ok text\t1", "more text\tpos"], "line 3: label 'pos' is not an integer"),
        (["ok text\t1", "more text\t1.5"], "line 3: label '1.5' is not an integer"),
        (["ok text\t1", "a\tb\t0"], "line 3: 3 field(s), but the header has 2"),
        (["ok text\t1", "more text\t-1"], "line 3: label -1 is negative"),
        (["ok text\t1", "!!!\t0"], "line 3: the text has no words after cleaning"),
        (["ok text\t1", "more text\t1"], "every text has the label 1"),
        (["ok text\t0", "more text\t2"], "class(es) [1] have no text"),
        (["ok text\t1", '"unclosed quote\t0', "more\t1"], "line 3: cannot be parsed"),
        (['"a quoted\nline break"\t1', "\t0"], "line 4: empty text"),
    ],
)
def test_bad_rows_are_named_by_line(tmp_path, lines, message):
    path = tmp_path / "bad.tsv"
    path.write_text("text\tlabel\n" + "\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        read_text_table(path)
    assert message in str(err.value)


def test_every_bad_row_is_listed_at_once_and_non_utf8_is_named_by_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("text\tlabel\nok\t1\n\t0\nfine\tx\n")
    with pytest.raises(DataError, match=r"2 problem\(s\)") as err:
        read_text_table(path)
    assert "line 3" in str(err.value) and "line 4" in str(err.value)
    latin = tmp_path / "latin.tsv"
    latin.write_bytes("text\tlabel\nok\t1\ncaf\u00e9 noir\t0\n".encode("latin-1"))
    with pytest.raises(DataError, match="line 3 is not valid UTF-8"):
        read_text_table(latin)
    header = tmp_path / "header.tsv"
    header.write_text("review\tsentiment\nok\t1\n")
    with pytest.raises(DataError, match="set text_column / label_column"):
        read_text_table(header)
    assert read_text_table(reviews_tsv(tmp_path / "r.tsv"), "text", "label")[1].tolist()[:4] == [0, 1, 0, 1]


def _npz(path, **arrays):
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"ids": np.ones((4, 3), int), "y": np.arange(4) % 2}, "no array 'x'"),
        ({"x": np.ones((4, 3)), "y": np.arange(4) % 2}, "dtype float64; token ids must be integers"),
        ({"x": np.ones(4, int), "y": np.arange(4) % 2}, "token ids must be [N, L]"),
        ({"x": np.array([[1, 2], [3]], dtype=object), "y": np.arange(2)}, "object array (ragged"),
        ({"x": np.array([[1, -2], [3, 4]]), "y": np.arange(2)}, "negative token id(s), the first in row 0"),
        ({"x": np.array([[1, 2], [3, 50]]), "y": np.arange(2)}, ">= num_words = 50, the first in row 1"),
        ({"x": np.ones((3, 2), int), "y": np.arange(2)}, "3 token rows but 2 labels"),
        ({"x": np.ones((3, 2), int), "y": np.zeros(3, int)}, "every text has the label 0"),
    ],
)
def test_bad_token_npz_is_refused_with_what_is_wrong(tmp_path, arrays, message):
    path = _npz(tmp_path / "ids.npz", **arrays)
    with pytest.raises(DataError) as err:
        read_token_npz(path, num_words=50)
    assert message in str(err.value)


def test_token_npz_is_padded_at_the_front_to_maxlen(tmp_path):
    rng = np.random.default_rng(0)
    x = np.zeros((40, 6), dtype=np.int64)
    for row in x:
        length = rng.integers(1, 7)
        row[:length] = rng.integers(3, 20, size=length)  # padded at the end, as some tools do
    path = _npz(tmp_path / "ids.npz", x=x, y=np.arange(40) % 2)
    ds = prepare_byo("ids", {"path": str(path), "kind": "text", "num_words": 20, "maxlen": 4}, split_seed=0)
    everything = np.concatenate([ds.x(s) for s in ("train", "val", "test")])
    expected = text_module.pad_pre([row[row != 0] for row in x], 4)
    assert sorted(map(bytes, everything)) == sorted(map(bytes, expected))
    assert ds.meta["kind"] == "text" and ds.meta["maxlen"] == 4


def _validate(config):
    validate_config(config, REPO / "workflow/schemas/config.schema.yaml")


def _config(tmp_path, datasets, l2x_datasets, **tasks):
    section = {
        "datasets": l2x_datasets,
        "estimators": ["relaxed"],
        "temperatures": [1],
        "num_examples": 1,
        "settings": {
            d: {
                "k": 2,
                "black_box": {"epochs": 1, "batch_size": 10, "lr": 1e-3},
                "explainer": {"epochs": 1, "batch_size": 10, "lr": 1e-3, "optimizer": "adam"},
            }
            for d in l2x_datasets
        },
    }
    return {
        "profile": "byo",
        "seeds": [0],
        "device": "cpu",
        "data_dir": str(tmp_path / "data"),
        "split_seed": 0,
        "gpus_per_job": 0,
        "datasets": datasets,
        "tasks": {"l2x": section, **tasks},
    }


def test_config_checks_the_text_before_any_job(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("text\tlabel\nok text\t1\nmore text\tpos\n")
    with pytest.raises(ConfigError, match=r"(?s)datasets\.mine\.path.*line 3: label 'pos' is not an integer"):
        _validate(_config(tmp_path, {"mine": {"path": str(bad)}}, ["mine"]))
    good = str(reviews_tsv(tmp_path / "r.tsv"))
    _validate(_config(tmp_path, {"mine": {"path": good, "num_words": 100, "maxlen": 20}}, ["mine"]))
    with pytest.raises(ConfigError, match=r"(?s)datasets\.mine\.kind'.*holds text"):
        _validate(_config(tmp_path, {"mine": {"path": good, "kind": "features"}}, ["mine"]))
    with pytest.raises(ConfigError, match=r"(?s)datasets\.ids\.num_words'.*applies to text only"):
        path = str(_npz(tmp_path / "ids.npz", x=np.ones((4, 2)), y=np.arange(4) % 2))
        _validate(
            _config(tmp_path, {"mine": {"path": good}, "ids": {"path": path, "num_words": 10}}, ["mine"])
        )
    with pytest.raises(ConfigError, match=r"(?s)tasks\.knn\.datasets\[0\]'.*'mine' is text"):
        config = _config(tmp_path, {"mine": {"path": good}}, ["mine"])
        knn = yaml.safe_load((REPO / "config/config.yaml").read_text())["tasks"]["knn"]
        config["tasks"]["knn"] = {**knn, "datasets": ["mine"], "nets": {"mine": "mlp"}}
        _validate(config)


@pytest.mark.slow
def test_l2x_runs_on_a_users_tsv_from_config_alone(workflow_copy, tmp_path):
    """A TSV written outside the workflow, named in a config file: prepared, explained, tabulated."""
    (tmp_path / "own").mkdir()
    reviews = reviews_tsv(tmp_path / "own" / "reviews.tsv", n=120)
    config = tmp_path / "own" / "byo_text.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "profile": "byo_text",
                "seeds": [0],
                "datasets": {"my_reviews": {"path": str(reviews), "num_words": 60, "maxlen": 16}},
                "tasks": {
                    "l2x": {
                        "datasets": ["my_reviews"],
                        "estimators": ["relaxed"],
                        "temperatures": [1],
                        "num_examples": 2,
                        "settings": {
                            "my_reviews": {
                                "k": 3,
                                "black_box": {"epochs": 2, "batch_size": 20, "lr": 1e-2},
                                "explainer": {"epochs": 2, "batch_size": 20, "lr": 1e-2, "optimizer": "adam"},
                            }
                        },
                    }
                },
            }
        )
    )
    target = "results/byo_text/l2x/metrics.csv"
    result = run_snakemake(workflow_copy, "--cores", "2", "--configfile", config, "--", target, timeout=600)
    assert result.returncode == 0, result.stderr[-5000:]
    metrics = pd.read_csv(workflow_copy / target)
    posthoc = metrics[(metrics.metric == "posthoc_accuracy") & (metrics.estimator == "relaxed")]
    assert posthoc.dataset.tolist() == ["my_reviews"] and posthoc.value.between(0, 1).all()
    examples = workflow_copy / "results/byo_text/l2x/my_reviews/relaxed/tau1/seed0/examples.html"
    assert "number" in examples.read_text()  # words of the user's text, decoded by its vocabulary

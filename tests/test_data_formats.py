"""Parsers and preparation of every downloaded dataset, on tiny files in the official formats.

The files are written here (IDX gz, CIFAR pickle batches in a tar.gz, Keras imdb.npz +
word index json, an aclImdb-style tar, a Kaggle-style TSV, a MATLAB .mat); their
checksums are pinned in place of the published ones, so preparation runs exactly
the code path of the real files.
"""

import gzip
import io
import json
import pickle
import struct
import tarfile

import numpy as np
import pytest

from subsetgrad.bench.data import (
    DATASETS,
    DataError,
    RawFile,
    file_checksum,
    load_dataset,
    prepare_dataset,
    save_dataset,
)
from subsetgrad.bench.data.cifar import read_cifar_tarball
from subsetgrad.bench.data.imdb import read_aclimdb, read_keras_imdb, read_reviews_tsv
from subsetgrad.bench.data.mnist import read_idx
from subsetgrad.bench.data.newsgroups import read_w100
from subsetgrad.bench.data.text import (
    clean_review,
    encode_word_level,
    keras_imdb_words,
    pad_pre,
    split_sentences,
    word_ranks,
    words,
)

# --- writers of the official formats -----------------------------------------------------


def write_idx(path, array: np.ndarray, compress=True):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
    header = struct.pack(">BBBB", 0, 0, codes[array.dtype], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)


def fake_images(n, rng, shape=(28, 28)):
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)


def balanced_labels(n, classes=10):
    return (np.arange(n) % classes).astype(np.uint8)


def write_mnist(raw, n_train=60, n_test=50, seed=0):
    rng = np.random.default_rng(seed)
    raw.mkdir(parents=True, exist_ok=True)
    write_idx(raw / "train-images-idx3-ubyte.gz", fake_images(n_train, rng))
    write_idx(raw / "train-labels-idx1-ubyte.gz", balanced_labels(n_train))
    write_idx(raw / "t10k-images-idx3-ubyte.gz", fake_images(n_test, rng))
    write_idx(raw / "t10k-labels-idx1-ubyte.gz", balanced_labels(n_test))


def write_cifar(path, per_batch=20, seed=0):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:

        def add(name, obj):
            blob = pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))

        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            add(
                name,
                {
                    b"batch_label": name.encode(),
                    b"labels": [i % 10 for i in range(per_batch)],
                    b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                    b"filenames": [b"x.png"] * per_batch,
                },
            )
        add(
            "batches.meta",
            {
                b"label_names": [f"class{i}".encode() for i in range(10)],
                b"num_cases_per_batch": per_batch,
                b"num_vis": 3072,
            },
        )


def write_keras_imdb(raw, n_train=20, n_test=10, vocab=60, seed=0):
    rng = np.random.default_rng(seed)
    raw.mkdir(parents=True, exist_ok=True)

    def reviews(n):
        arr = np.empty(n, dtype=object)
        for i in range(n):
            arr[i] = list(rng.integers(1, vocab + 1, size=rng.integers(3, 25)).tolist())
        return arr

    with open(raw / "imdb.npz", "wb") as handle:
        np.savez(
            handle,
            x_train=reviews(n_train),
            y_train=np.arange(n_train) % 2,
            x_test=reviews(n_test),
            y_test=np.arange(n_test) % 2,
        )
    (raw / "imdb_word_index.json").write_text(json.dumps({f"w{r}": r for r in range(1, vocab + 1)}))


REVIEW_TEXTS = [
    'A great film. I loved it!<br /><br />Mr. Smith was superb, "truly" great.',
    "Terrible. Boring plot and bad acting? Yes... it's bad.",
    "Fine movie. The end.",
    "Worst film ever made. Never again! Awful, awful, awful.",
]


def write_aclimdb(path, per_folder=3):
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:

        def add(name, text):
            blob = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))

        for split in ("test", "train"):  # out of order on purpose: the reader sorts
            for polarity in ("pos", "neg"):
                for i in range(per_folder):
                    add(
                        f"aclImdb/{split}/{polarity}/{i}_{7 if polarity == 'pos' else 2}.txt",
                        f"{polarity} review {i}. " + REVIEW_TEXTS[i % len(REVIEW_TEXTS)],
                    )
        add("aclImdb/train/unsup/0_0.txt", "unlabelled review, ignored.")
        add("aclImdb/imdb.vocab", "the\nand\n")


def write_reviews_tsv(path, n=40):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["id\tsentiment\treview"]
    for i in range(n):
        lines.append(f"{i}_x\t{i % 2}\t{REVIEW_TEXTS[i % len(REVIEW_TEXTS)]} number{i}.")
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")


def write_w100(path, n_docs=60, n_words=100, seed=0):
    import scipy.io
    import scipy.sparse

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    documents = scipy.sparse.csc_matrix((rng.random((n_words, n_docs)) < 0.1).astype(np.float64))
    scipy.io.savemat(
        path,
        {
            "documents": documents,
            "newsgroups": (np.arange(n_docs) % 4 + 1).reshape(1, -1).astype(np.float64),
            "wordlist": np.array([f"word{i}" for i in range(n_words)], dtype=object).reshape(1, -1),
            "groupnames": np.array(["comp.*", "rec.*", "sci.*", "talk.*"], dtype=object).reshape(1, -1),
        },
    )


@pytest.fixture
def pin(monkeypatch):
    """Pin a dataset's raw files to the checksums of the files a test wrote."""

    def _pin(name, raw_dir):
        spec = DATASETS[name]
        pinned = tuple(
            RawFile(f.name, f.urls, "sha256", file_checksum(raw_dir / f.name, "sha256"))
            for f in spec.raw_files
        )
        monkeypatch.setattr(spec, "raw_files", pinned)

    return _pin


def assert_splits(ds, sizes):
    for split, n in sizes.items():
        assert len(ds.x(split)) == n and len(ds.y(split)) == n, split
        assert ds.y(split).dtype == np.int64


def assert_same(a, b):
    assert a.arrays.keys() == b.arrays.keys()
    for key in a.arrays:
        np.testing.assert_array_equal(a.arrays[key], b.arrays[key])


# --- IDX / MNIST ---------------------------------------------------------------------------


def test_read_idx_plain_and_gzip(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "a", array, compress=False)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), array)
    wide = np.array([[1, -2], [70000, 3]], dtype=">i4")
    write_idx(tmp_path / "b.gz", wide)
    assert read_idx(tmp_path / "b.gz").tolist() == wide.tolist()


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "junk").write_bytes(b"\x12\x34\x56\x78rest")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "junk")
    array = np.zeros((4, 5, 5), dtype=np.uint8)
    header = struct.pack(">BBBB3I", 0, 0, 8, 3, 4, 5, 5)
    (tmp_path / "short").write_bytes(header + array.tobytes()[:-7])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_idx(tmp_path / "short")


def test_mnist_preparation(tmp_path, pin):
    raw = tmp_path / "raw/mnist"
    write_mnist(raw)
    pin("mnist", raw)
    ds = prepare_dataset("mnist", raw, split_seed=3, val_size=10)
    assert_splits(ds, {"train": 50, "val": 10, "test": 50})
    assert ds.x("train").shape[1:] == (1, 28, 28) and ds.x("train").dtype == np.uint8
    assert ds.meta["x_scale"] == 255.0 and ds.num_classes == 10
    assert np.bincount(ds.y("val"), minlength=10).tolist() == [1] * 10  # stratified
    # the official test set is kept in order, untouched
    np.testing.assert_array_equal(ds.x("test")[:, 0], read_idx(raw / "t10k-images-idx3-ubyte.gz"))
    # train + val are exactly the official training set
    train = read_idx(raw / "train-images-idx3-ubyte.gz")
    both = np.concatenate([ds.x("train"), ds.x("val")])[:, 0]
    assert sorted(map(bytes, both)) == sorted(map(bytes, train))
    assert_same(ds, prepare_dataset("mnist", raw, split_seed=3, val_size=10))
    assert not np.array_equal(ds.x("val"), prepare_dataset("mnist", raw, 4, val_size=10).x("val"))
    assert {f["name"] for f in ds.meta["source_files"]} == {f.name for f in DATASETS["mnist"].raw_files}


def test_saved_images_load_as_float_in_unit_interval(tmp_path, pin):
    raw = tmp_path / "raw/mnist"
    write_mnist(raw)
    pin("mnist_test_small", raw)
    ds = prepare_dataset("mnist_test_small", raw, split_seed=0, val_size=10, test_size=10)
    assert_splits(ds, {"train": 30, "val": 10, "test": 10})
    save_dataset(ds, tmp_path / "prepared/mnist_test_small.npz")
    loaded = load_dataset(tmp_path / "prepared/mnist_test_small.npz")
    assert loaded.x("train").dtype == np.float32
    np.testing.assert_allclose(loaded.x("train"), ds.x("train") / 255.0, rtol=1e-6)
    raw_loaded = load_dataset(tmp_path / "prepared/mnist_test_small.npz", scale=False)
    assert raw_loaded.x("train").dtype == np.uint8
    sidecar = json.loads((tmp_path / "prepared/mnist_test_small.json").read_text())
    assert sidecar["split_seed"] == 0 and sidecar["shapes"]["x_test"] == [10, 1, 28, 28]
    assert sidecar["class_counts"]["test"] == [1] * 10
    assert all(len(f["checksum"]) == 64 for f in sidecar["source_files"])


def test_truncated_gzip_is_reported_and_nothing_is_written(tmp_path, pin):
    raw = tmp_path / "raw/mnist"
    write_mnist(raw)
    images = raw / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:-40])
    pin("mnist_test_small", raw)  # checksum of the truncated file: the parser must catch it
    with pytest.raises(DataError, match="truncated or corrupt gzip"):
        ds = prepare_dataset("mnist_test_small", raw, 0, val_size=10, test_size=10)
        save_dataset(ds, tmp_path / "prepared/x.npz")
    assert not (tmp_path / "prepared").exists()


# --- CIFAR-10 ------------------------------------------------------------------------------


def test_cifar_tarball_parser(tmp_path):
    write_cifar(tmp_path / "c.tar.gz", per_batch=20)
    batches, names = read_cifar_tarball(tmp_path / "c.tar.gz")
    assert names == [f"class{i}" for i in range(10)]
    x, y = batches["data_batch_3"]
    assert x.shape == (20, 3, 32, 32) and x.dtype == np.uint8 and y.tolist() == [i % 10 for i in range(20)]


def test_cifar_preparation(tmp_path, pin):
    raw = tmp_path / "raw/cifar10"
    write_cifar(raw / "cifar-10-python.tar.gz", per_batch=20)
    pin("cifar10", raw)
    ds = prepare_dataset("cifar10", raw, split_seed=1, val_size=10)
    assert_splits(ds, {"train": 90, "val": 10, "test": 20})
    assert ds.x("test").shape == (20, 3, 32, 32)
    assert ds.meta["class_names"][0] == "class0" and ds.meta["x_scale"] == 255.0
    assert 0 <= ds.y("train").min() and ds.y("train").max() <= 9
    assert_same(ds, prepare_dataset("cifar10", raw, split_seed=1, val_size=10))


def test_cifar_archive_without_batches_is_rejected(tmp_path):
    path = tmp_path / "c.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("something/else.txt")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(DataError, match="not the official CIFAR-10"):
        read_cifar_tarball(path)


# --- IMDB ----------------------------------------------------------------------------------


def test_keras_imdb_word_level(tmp_path, pin):
    raw = tmp_path / "raw/imdb_keras"
    write_keras_imdb(raw)
    pin("imdb_word_keras", raw)
    ranks_train, _, _, _ = read_keras_imdb(raw / "imdb.npz", DATASETS["imdb_word_keras"].raw_files[0])
    ds = prepare_dataset("imdb_word_keras", raw, split_seed=0, val_size=4, num_words=20, maxlen=12)
    assert_splits(ds, {"train": 16, "val": 4, "test": 10})
    x = np.concatenate([ds.x("train"), ds.x("val"), ds.x("test")])
    assert x.shape[1] == 12 and x.dtype == np.int32
    assert x.max() < 20 and x.min() >= 0 and not np.isin(x, [3]).any()
    # Keras conventions: start char 1, OOV 2, rank + 3, zero padding at the front,
    # truncation keeps the end of the review.
    expected = pad_pre([[1] + [r + 3 if r + 3 < 20 else 2 for r in s] for s in ranks_train], 12)
    rows = {tuple(r) for r in np.concatenate([ds.x("train"), ds.x("val")])}
    assert rows == {tuple(r) for r in expected}
    vocab = ds.arrays["vocabulary"]
    assert vocab.shape == (20,) and vocab[1] == "<start>" and vocab[4] == "w1" and vocab[19] == "w16"
    assert ds.meta["num_words"] == 20 and ds.meta["index_from"] == 3


def test_aclimdb_reader_sorts_and_ignores_unsup(tmp_path):
    write_aclimdb(tmp_path / "a.tar.gz", per_folder=3)
    reviews = read_aclimdb(tmp_path / "a.tar.gz")
    texts, labels = reviews["train"]
    assert labels.tolist() == [0, 0, 0, 1, 1, 1] and len(reviews["test"][0]) == 6
    assert texts[0].startswith("neg review 0.") and not any("unlabelled" in t for t in texts)


def test_imdb_sentence_preparation(tmp_path, pin):
    raw = tmp_path / "raw/imdb_sentence"
    write_aclimdb(raw / "aclImdb_v1.tar.gz", per_folder=3)
    pin("imdb_sentence", raw)
    ds = prepare_dataset(
        "imdb_sentence", raw, split_seed=0, val_size=2, num_words=30, max_sentences=3, max_words=5
    )
    assert_splits(ds, {"train": 4, "val": 2, "test": 6})
    assert ds.x("train").shape == (4, 3, 5) and ds.x("test").dtype == np.int32
    assert ds.x("test").max() < 30
    assert set(np.unique(ds.y("test"))) == {0, 1}
    vocab = ds.arrays["vocabulary"]
    assert vocab[0] == "<pad>" and vocab[1] in {"review", "great", "film", "awful"}
    # words within a sentence are padded at the end, sentences beyond the review are empty
    x = ds.x("test")
    assert ((x[:, :, 1:] > 0) <= (x[:, :, :-1] > 0)).all()


def test_text_cleaning_and_sentences():
    text = clean_review(REVIEW_TEXTS[0])
    assert "<br" not in text and '"' not in text and text == text.lower()
    # a tag leaves no space (BeautifulSoup's get_text, as the L2X authors), so no sentence ends there
    assert split_sentences(text) == ["a great film.", "i loved it!mr. smith was superb, truly great."]
    assert clean_review("Tom &amp; Jerry<br />Fine") == "tom & jerryfine"
    assert words("dont, stop; me-now") == ["dont", "stop", "me", "now"]
    assert split_sentences(clean_review("It's bad... Really? h. g. wells wrote it.")) == [
        "its bad...",
        "really?",
        "h. g. wells wrote it.",
    ]
    ranks = word_ranks([["b", "a", "b"], ["c", "a"]])
    assert ranks == {"b": 1, "a": 2, "c": 3}  # ties keep the order of first appearance
    ids = encode_word_level(["b a zzz c"], ranks, num_words=6, maxlen=6)
    assert ids.tolist() == [[0, 1, 4, 5, 2, 2]]  # start, b=1+3, a=2+3, unknown->oov, c=6 >= 6 -> oov


def test_imdb_word_from_aclimdb_follows_keras_conventions(tmp_path, pin):
    raw = tmp_path / "raw/aclimdb"
    write_aclimdb(raw / "aclImdb_v1.tar.gz", per_folder=3)
    pin("imdb_word", raw)
    ds = prepare_dataset("imdb_word", raw, split_seed=0, val_size=2, num_words=12, maxlen=10)
    assert_splits(ds, {"train": 4, "val": 2, "test": 6})
    reviews = read_aclimdb(raw / "aclImdb_v1.tar.gz")
    tokens = [keras_imdb_words(t) for split in ("train", "test") for t in reviews[split][0]]
    ranks = word_ranks(tokens)  # ranked over train and test, as Keras's index
    expected = pad_pre(
        [[1] + [ranks[w] + 3 if ranks[w] + 3 < 12 else 2 for w in ws] for ws in tokens[6:]], 10
    )
    assert np.array_equal(ds.x("test"), expected)
    vocab = ds.arrays["vocabulary"]
    assert list(vocab[:3]) == ["<pad>", "<start>", "<oov>"] and vocab[4] == next(iter(ranks))
    assert keras_imdb_words("It's <br />'great' 10/10") == ["it's", "br", "great", "10", "10"]


def test_tsv_reviews_share_the_aclimdb_pipeline(tmp_path, pin):
    raw = tmp_path / "raw/imdb_reviews_5000"
    write_reviews_tsv(raw / "imdb_labeledTrainData_first5000.tsv.gz", n=40)
    texts, labels = read_reviews_tsv(raw / "imdb_labeledTrainData_first5000.tsv.gz")
    assert len(texts) == 40 and labels.tolist() == [i % 2 for i in range(40)]
    assert texts[0] == REVIEW_TEXTS[0] + " number0."
    for name, shape in (("imdb_word_small", (400,)), ("imdb_sentence_small", (15, 100))):
        pin(name, raw)
        ds = prepare_dataset(name, raw, split_seed=2, val_size=4, test_size=8)
        assert_splits(ds, {"train": 28, "val": 4, "test": 8})
        assert ds.x("train").shape[1:] == shape
        assert np.bincount(ds.y("test")).tolist() == [4, 4]
        assert_same(ds, prepare_dataset(name, raw, split_seed=2, val_size=4, test_size=8))
        other = prepare_dataset(name, raw, split_seed=5, val_size=4, test_size=8)
        assert not np.array_equal(ds.x("test"), other.x("test"))


# --- 20 Newsgroups -------------------------------------------------------------------------


def test_w100_mat_parser_and_preparation(tmp_path, pin):
    raw = tmp_path / "raw/newsgroups20_w100"
    write_w100(raw / "20news_w100.mat", n_docs=60)
    x, y, words_, groups = read_w100(raw / "20news_w100.mat")
    assert x.shape == (60, 100) and x.dtype == np.float32 and set(np.unique(x)) <= {0.0, 1.0}
    assert y.min() == 0 and y.max() == 3 and words_[5] == "word5" and groups[3] == "talk.*"
    pin("newsgroups20_w100", raw)
    ds = prepare_dataset("newsgroups20_w100", raw, split_seed=0, train_size=50)
    assert_splits(ds, {"train": 50, "val": 0, "test": 10})
    assert ds.num_classes == 4 and ds.x("val").shape == (0, 100)
    together = np.concatenate([ds.x("train"), ds.x("test")])
    assert sorted(map(bytes, together)) == sorted(map(bytes, x))
    assert_same(ds, prepare_dataset("newsgroups20_w100", raw, split_seed=0, train_size=50))
    assert not np.array_equal(
        ds.y("test"), prepare_dataset("newsgroups20_w100", raw, 1, train_size=50).y("test")
    )


def test_a_damaged_mat_file_is_reported(tmp_path):
    (tmp_path / "20news_w100.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\x00" * 20)
    with pytest.raises(DataError, match="not a readable MATLAB file"):
        read_w100(tmp_path / "20news_w100.mat")


# --- splits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, classes, n_val, n_test", [(100, 4, 10, 20), (61, 7, 3, 5), (50, 2, 0, 1), (1000, 10, 100, 0)]
)
def test_split_by_sizes_is_exact_disjoint_stratified_and_seeded(n, classes, n_val, n_test):
    from subsetgrad.bench.data import split_by_sizes

    y = np.random.default_rng(1).integers(0, classes, size=n)
    split = split_by_sizes(y, n_val, n_test, seed=7)
    assert [len(split[s]) for s in ("train", "val", "test")] == [n - n_val - n_test, n_val, n_test]
    assert sorted(np.concatenate(list(split.values())).tolist()) == list(range(n))
    counts = np.bincount(y, minlength=classes)
    for part, size in (("test", n_test), ("val", n_val)):
        got = np.bincount(y[split[part]], minlength=classes)
        pool = counts if part == "test" else counts - np.bincount(y[split["test"]], minlength=classes)
        assert (np.abs(got - pool * size / pool.sum()) < 1).all()  # each class within one item of its share
    again = split_by_sizes(y, n_val, n_test, seed=7)
    assert all(np.array_equal(split[s], again[s]) for s in split)
    if n_test:
        assert not np.array_equal(split["test"], split_by_sizes(y, n_val, n_test, seed=8)["test"])
    with pytest.raises(DataError, match="non-empty train"):
        split_by_sizes(y, n, 0, seed=0)


def test_keras_imdb_with_another_checksum_is_never_unpickled(tmp_path, monkeypatch):
    """An imdb.npz that is not the pinned file is rejected before numpy may unpickle it."""
    raw = tmp_path / "raw/imdb_keras"
    write_keras_imdb(raw)
    opened = []
    monkeypatch.setattr(np, "load", lambda *a, **k: opened.append(a) or pytest.fail("np.load was called"))
    with pytest.raises(DataError, match=r"imdb\.npz has sha256 [0-9a-f]{64}, not the published"):
        read_keras_imdb(raw / "imdb.npz")
    assert opened == []

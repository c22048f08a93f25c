"""Real data (../shared/data, skipped where absent) and the data rules run by Snakemake.

The shared files are linked under their official names into a temporary data
directory (the manual-placement path), so these tests run the same code as a
user who copied the official files by hand.
"""

import json

import numpy as np
import pytest
from conftest import copy_workflow, run_snakemake

from subsetgrad.bench.data import load_dataset, prepare_dataset, split_by_sizes
from subsetgrad.bench.data.imdb import read_reviews_tsv
from subsetgrad.bench.data.mnist import read_idx_pair
from subsetgrad.bench.data.newsgroups import read_w100
from subsetgrad.bench.data.shared import link_shared_data
from subsetgrad.bench.data.text import clean_review, words

MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture
def raw(shared_data, tmp_path):
    """A data directory holding the shared files under their official names."""
    link_shared_data(shared_data, tmp_path)
    return tmp_path / "raw"


def all_labels(ds):
    return np.concatenate([ds.y(s) for s in ("train", "val", "test")])


@pytest.mark.realdata
def test_real_mnist_test_files(raw):
    x, y = read_idx_pair(raw / "mnist/t10k-images-idx3-ubyte.gz", raw / "mnist/t10k-labels-idx1-ubyte.gz")
    assert x.shape == (10000, 1, 28, 28) and x.dtype == np.uint8 and x.max() == 255
    assert np.bincount(y).tolist() == MNIST_TEST_COUNTS
    ds = prepare_dataset("mnist_test_small", raw / "mnist", split_seed=0)
    assert [len(ds.y(s)) for s in ("train", "val", "test")] == [7000, 1000, 2000]
    assert np.bincount(all_labels(ds)).tolist() == MNIST_TEST_COUNTS
    shares = np.bincount(ds.y("test"), minlength=10) / 2000
    np.testing.assert_allclose(shares, np.array(MNIST_TEST_COUNTS) / 10000, atol=1 / 2000)  # stratified


@pytest.mark.realdata
def test_real_20news_w100(raw):
    x, y, words_, groups = read_w100(raw / "newsgroups20_w100/20news_w100.mat")
    assert x.shape == (16242, 100) and set(np.unique(x)) == {0.0, 1.0}
    assert sorted(set(y.tolist())) == [0, 1, 2, 3] and len(groups) == 4 and len(words_) == 100
    ds = prepare_dataset("newsgroups20_w100", raw / "newsgroups20_w100", split_seed=0)
    assert [len(ds.y(s)) for s in ("train", "val", "test")] == [15000, 0, 1242]
    assert np.array_equal(np.bincount(all_labels(ds)), np.bincount(y))


@pytest.mark.realdata
def test_real_imdb_reviews_through_the_aclimdb_pipeline(raw):
    folder = raw / "imdb_reviews_5000"
    texts, labels = read_reviews_tsv(folder / "imdb_labeledTrainData_first5000.tsv.gz")
    assert len(texts) == 5000 and np.bincount(labels).tolist() == [2483, 2517]
    word = prepare_dataset("imdb_word_small", folder, split_seed=0)
    sentence = prepare_dataset("imdb_sentence_small", folder, split_seed=0)
    for ds in (word, sentence):
        assert [len(ds.y(s)) for s in ("train", "val", "test")] == [3600, 400, 1000]
        assert np.bincount(all_labels(ds)).tolist() == [2483, 2517]
    assert word.x("train").shape[1:] == (400,) and word.x("train").max() < 5000
    assert sentence.x("train").shape[1:] == (15, 100) and sentence.x("train").max() < 20000
    # decoding a prepared review gives back the tail of its cleaned words (OOV aside)
    split = split_by_sizes(labels, 400, 1000, 0)
    vocab = word.arrays["vocabulary"]
    for row, original in zip(word.x("test")[:20], split["test"][:20]):
        expected = words(clean_review(texts[original]))
        decoded = [vocab[i] for i in row if i > 1]
        tail = expected[-len(decoded) :]
        assert all(d == "<oov>" or d == e for d, e in zip(decoded, tail))
    # a 5,000-word vocabulary from 4,000 reviews leaves about a tenth of the tokens out
    tokens = word.x("test")[word.x("test") > 1]
    assert 0.02 < (tokens == 2).mean() < 0.2
    # sentence level: most reviews have several sentences, few sentences are cut
    x = sentence.x("train")
    sentences_per_review = (x > 0).any(axis=2).sum(axis=1)
    assert 5 < np.median(sentences_per_review) <= 15
    assert ((x > 0).sum(axis=2) == 100).mean() < 0.01


@pytest.mark.realdata
def test_real_cifar_jpeg_images(raw):
    ds = prepare_dataset("cifar10_jpeg_small", raw / "cifar10_jpeg_small", split_seed=0)
    assert [len(ds.y(s)) for s in ("train", "val", "test")] == [1400, 200, 400]
    assert ds.x("train").shape[1:] == (3, 32, 32) and np.bincount(ds.y("test")).tolist() == [40] * 10


# --- the Snakemake rules -----------------------------------------------------------------


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory):
    """The workflow in a temporary folder, so runs never touch the checkout's data/."""
    return copy_workflow(tmp_path_factory.mktemp("wf") / "repo")


def snakemake(*args, cwd):
    return run_snakemake(cwd, *args, timeout=600, env={"SUBSETGRAD_OFFLINE": "1"})  # never the network


@pytest.mark.slow
def test_dry_run_of_the_paper_datasets_plans_downloads_offline(workflow_copy):
    result = snakemake("-n", "datasets_paper", "--config", "data_dir=dry_data", cwd=workflow_copy)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    assert "download_raw_file       11" in result.stdout and "prepare_dataset          6" in result.stdout
    assert not (workflow_copy / "dry_data").exists()


@pytest.mark.slow
def test_missing_manual_file_fails_with_the_path_to_place_it(workflow_copy):
    result = snakemake(
        "--cores",
        "1",
        "empty/prepared/imdb_word_small.npz",
        "--configfile",
        "config/real_small.yaml",
        "--config",
        "data_dir=empty",
        cwd=workflow_copy,
    )
    assert result.returncode != 0
    out = result.stdout + result.stderr
    path = "empty/raw/imdb_reviews_5000/imdb_labeledTrainData_first5000.tsv.gz"
    assert f"place a copy at {path}" in out and "no public download URL" in out, out[-3000:]
    assert "Traceback" not in out
    folder = workflow_copy / "empty/raw/imdb_reviews_5000"
    assert not folder.exists() or not any(folder.iterdir())  # nothing partial left behind


@pytest.mark.slow
@pytest.mark.realdata
def test_real_small_datasets_from_manual_copies(workflow_copy, shared_data):
    data = workflow_copy / "data"
    link_shared_data(shared_data, data)
    targets = ["data/prepared/mnist_test_small.npz", "data/prepared/newsgroups20_w100.npz"]
    result = snakemake("--cores", "2", *targets, "--configfile", "config/real_small.yaml", cwd=workflow_copy)
    assert result.returncode == 0, result.stderr[-5000:]
    assert "download_raw_file" not in result.stderr  # the manual copies are used as they are
    mnist = load_dataset(data / "prepared/mnist_test_small.npz")
    assert mnist.x("train").shape == (7000, 1, 28, 28) and mnist.x("train").dtype == np.float32
    sidecar = json.loads((data / "prepared/mnist_test_small.json").read_text())
    assert {f["name"] for f in sidecar["source_files"]} == {
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    }
    assert sidecar["source_files"][0]["checksum"] in {
        "9fb629c4189551a2d022fa330f9573f3",
        "ec29112dd5afa0611ce80d1b7f02629c",
    }
    assert sidecar["class_counts"]["test"] == np.bincount(mnist.y("test")).tolist()
    assert load_dataset(data / "prepared/newsgroups20_w100.npz").x("test").shape == (1242, 100)


@pytest.mark.slow
@pytest.mark.realdata
def test_linked_shared_files_satisfy_the_paper_datasets_offline(workflow_copy, shared_data):
    link_shared_data(shared_data, workflow_copy / "linked")
    result = snakemake("-n", "datasets_paper", "--config", "data_dir=linked", cwd=workflow_copy)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    # only CIFAR-10 has no shared copy; IMDB is read from the repacked archive as it is
    assert "download_raw_file        1" in result.stdout and "prepare_dataset          6" in result.stdout
    assert "linked/raw/cifar10/cifar-10-python.tar.gz" in result.stdout
    assert "linked/raw/aclimdb/aclImdb_labelled_v1.tar.gz" in result.stdout

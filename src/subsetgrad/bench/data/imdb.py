"""IMDB movie reviews at word level (Keras format) and sentence level (raw text).

* ``imdb_word``: the Large Movie Review Dataset (below) in the encoding of Keras's
  ``imdb.load_data(num_words=5000, index_from=3)`` followed by
  ``pad_sequences(maxlen=400)``, the L2X word-level setting: words ranked by
  frequency over all 50,000 labelled reviews (as Keras's index), id = rank + 3,
  1 = start, 2 = out of vocabulary (id >= 5,000), cut and padded at the front.
  Keras's tokenisation script is not published, so the ranks are a reconstruction
  (:func:`.text.keras_imdb_words`); 2,500 training reviews are held out for validation.
* ``imdb_word_keras``: the same setting from Keras's own ``imdb.npz`` (lists of
  word ranks) and ``imdb_word_index.json``, both pinned to the checksums Keras
  publishes: exactly the arrays the L2X authors used, where those files can be
  downloaded.
* ``imdb_sentence``: the Large Movie Review Dataset (25,000 train / 25,000 test
  reviews under ``{train,test}/{pos,neg}/``) split into sentences: ``[N, 15, 100]``,
  vocabulary 20,000 (from the training reviews), 2,500 training reviews held out
  for validation.

The Large Movie Review Dataset (Maas et al., ACL 2011) is accepted as the official
``aclImdb_v1.tar.gz`` (md5), or, placed in the same raw folder, as an extracted
``aclImdb/`` folder or any repacked ``*.tar.gz`` / ``*.tgz`` / ``*.tar`` of it, verified
by the content manifest of its 50,000 labelled reviews (:data:`ACLIMDB_MANIFEST`).
* ``imdb_word_small``, ``imdb_sentence_small``: the 5,000 labelled reviews of the
  Kaggle TSV in ../shared/data (placed by hand), through exactly the same cleaning,
  tokenisation and sentence splitting as ``imdb_sentence`` (:mod:`.text`), split
  3,600 / 400 / 1,000; vocabulary from the non-test reviews.

Every text dataset stores ``x`` as int32 token ids (0 = padding; cast with
``.long()`` for embeddings), ``y`` int64 (0 = negative, 1 = positive), and an
array ``vocabulary`` with the word of each token id.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zlib
from pathlib import Path

import numpy as np

from subsetgrad.bench.data import text
from subsetgrad.bench.data.core import (
    DataError,
    Dataset,
    DatasetSpec,
    RawFile,
    carve_validation,
    register_dataset,
    split_by_sizes,
)
from subsetgrad.bench.data.download import locate_raw_file, require_raw_files
from subsetgrad.bench.data.manifest import ContentManifest, iter_members

KERAS_BASE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
IMDB_NPZ = RawFile(
    "imdb.npz",
    (KERAS_BASE + "imdb.npz",),
    "sha256",
    "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f",
)
IMDB_WORD_INDEX = RawFile(
    "imdb_word_index.json", (KERAS_BASE + "imdb_word_index.json",), "md5", "bfafd718b763782e994055a2d397834f"
)
# The content of the 50,000 labelled reviews, ``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt``
# (ids 0..12,499 per folder), serialised as in :mod:`.manifest`. A property of the dataset,
# not of an archive: computed from the review files, which are byte-identical in the
# official tarball, its extraction and any faithful repack.
ACLIMDB_MANIFEST = ContentManifest(
    top="aclImdb",
    pattern=r"^aclImdb/(?P<folder>(?:train|test)/(?:pos|neg))/(?P<id>\d+)_(?P<rating>\d+)\.txt$",
    folders=("train/pos", "train/neg", "test/pos", "test/neg"),
    ids_per_folder=12500,
    sha256="3a1bc6867d44017fb0273b44da36c399b999e7fd0427c388b57c67358d440db0",
    fingerprints_file="aclimdb_fingerprints.bin",
)
ACLIMDB = RawFile(
    "aclImdb_v1.tar.gz",
    ("https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",),
    "md5",
    "7c2ac02c03563afcf9b574c7e56c153a",
    manifest=ACLIMDB_MANIFEST,
    alternatives=("aclImdb", "*.tar.gz", "*.tgz", "*.tar"),
)
ACLIMDB_SOURCE = "aclimdb"  # the raw folder imdb_word and imdb_sentence share
REVIEWS_TSV = RawFile(
    "imdb_labeledTrainData_first5000.tsv.gz",
    (),
    "sha256",
    "e061be874f8747e77911ad5e6ef7cdaadaeca4ada0a828cf021c5d9b58adeba2",
    note="the first 5,000 rows of Kaggle's labeledTrainData.tsv (word2vec-nlp-tutorial), a project "
    "test file; link it from the shared data folder with workflow/scripts/link_shared_data.py",
)
CLASS_NAMES = ["negative", "positive"]
KERAS_SHUFFLE_SEED = 113  # keras.datasets.imdb.load_data's default seed
WORD_LEVEL = {"num_words": 5000, "maxlen": 400, "index_from": 3}
SENTENCE_LEVEL = {"num_words": 20000, "max_sentences": 15, "max_words": 100}


def _meta(spec: DatasetSpec, sources, split_seed, split_sizes, **extra) -> dict:
    return {
        "description": spec.description,
        "kind": "text",
        "source_files": sources,
        "split_seed": split_seed,
        "split_sizes": {k: int(v) for k, v in split_sizes.items()},
        "num_classes": 2,
        "class_names": CLASS_NAMES,
        **extra,
    }


# --- Keras word-level IMDB ----------------------------------------------------------------


def read_keras_imdb(
    npz_path: Path, raw_file: RawFile = IMDB_NPZ
) -> tuple[list, np.ndarray, list, np.ndarray]:
    """Rank lists and labels of Keras's ``imdb.npz``, in ``load_data``'s shuffled order.

    The file stores Python lists (object arrays), which numpy can only read by unpickling.
    So the bytes are read once, checked against ``raw_file``'s pinned checksum, and only
    those verified bytes are unpickled: a file swapped in after a check is never opened.
    """
    npz_path = Path(npz_path)
    try:
        content = npz_path.read_bytes()
    except OSError as err:
        raise DataError(f"{npz_path} cannot be read ({err})") from err
    actual = hashlib.new(raw_file.algorithm, content).hexdigest()
    if actual != raw_file.checksum:
        raise DataError(
            f"{npz_path} has {raw_file.algorithm} {actual}, not the published {raw_file.checksum}: "
            f"it is not Keras's imdb.npz, and a file that is not verified is never unpickled; "
            f"delete it and download it again"
        )
    try:
        # verified against the pinned checksum just above: the only pickled file the package opens
        with np.load(io.BytesIO(content), allow_pickle=True) as data:
            x_train, y_train = data["x_train"], data["y_train"]
            x_test, y_test = data["x_test"], data["y_test"]
    except (KeyError, ValueError, OSError, EOFError, zlib.error) as err:
        raise DataError(
            f"{npz_path} is not Keras's imdb.npz or is damaged ({err}); delete it and download it again"
        ) from err
    rng = np.random.RandomState(KERAS_SHUFFLE_SEED)  # the same two shuffles as load_data
    order_train = np.arange(len(x_train))
    rng.shuffle(order_train)
    order_test = np.arange(len(x_test))
    rng.shuffle(order_test)
    return (
        [list(s) for s in x_train[order_train]],
        np.asarray(y_train[order_train], dtype=np.int64),
        [list(s) for s in x_test[order_test]],
        np.asarray(y_test[order_test], dtype=np.int64),
    )


def _prepare_imdb_word_keras(raw_dir: Path, split_seed: int, val_size: int = 2500, **settings) -> Dataset:
    spec = _SPECS["imdb_word_keras"]
    cfg = {**WORD_LEVEL, **settings}
    sources = require_raw_files(spec, raw_dir)
    ranks_train, y_train, ranks_test, y_test = read_keras_imdb(
        raw_dir / IMDB_NPZ.name, next(f for f in spec.raw_files if f.name == IMDB_NPZ.name)
    )
    ranks = json.loads((raw_dir / IMDB_WORD_INDEX.name).read_text())
    for y in (y_train, y_test):
        if y.size and (y.min() < 0 or y.max() > 1):
            raise DataError(f"{raw_dir / IMDB_NPZ.name}: labels must be 0 or 1")
    n, idx, start = cfg["num_words"], cfg["index_from"], text.START
    x_train = text.pad_pre(text.keras_ids(ranks_train, n, idx, start, text.OOV), cfg["maxlen"])
    x_test = text.pad_pre(text.keras_ids(ranks_test, n, idx, start, text.OOV), cfg["maxlen"])
    arrays, sizes = carve_validation(x_train, y_train, x_test, y_test, val_size, split_seed)
    arrays["vocabulary"] = text.vocabulary_array(ranks, n, idx, ["<pad>", "<start>", "<oov>"])
    return Dataset(
        "imdb_word_keras",
        arrays,
        _meta(
            spec,
            sources,
            split_seed,
            sizes,
            encoding="word_level",
            **cfg,
            start_char=text.START,
            oov_char=text.OOV,
        ),
    )


def _prepare_imdb_word(raw_dir: Path, split_seed: int, val_size: int = 2500, **settings) -> Dataset:
    spec = _SPECS["imdb_word"]
    cfg = {**WORD_LEVEL, **settings}
    sources = require_raw_files(spec, raw_dir)  # verified before any tokenising
    reviews = read_aclimdb(locate_raw_file(raw_dir, ACLIMDB))
    tokens = {split: [text.keras_imdb_words(t) for t in reviews[split][0]] for split in ("train", "test")}
    # Keras ranks words by their frequency in the whole labelled dataset, test reviews included
    ranks = text.word_ranks(tokens["train"] + tokens["test"])
    n, idx = cfg["num_words"], cfg["index_from"]
    x = {
        split: text.pad_pre(
            text.keras_ids([[ranks[w] for w in ws] for ws in tokens[split]], n, idx), cfg["maxlen"]
        )
        for split in tokens
    }
    arrays, sizes = carve_validation(
        x["train"], reviews["train"][1], x["test"], reviews["test"][1], val_size, split_seed
    )
    arrays["vocabulary"] = text.vocabulary_array(ranks, n, idx, ["<pad>", "<start>", "<oov>"])
    return Dataset(
        "imdb_word",
        arrays,
        _meta(
            spec,
            sources,
            split_seed,
            sizes,
            encoding="word_level",
            **cfg,
            start_char=text.START,
            oov_char=text.OOV,
            word_ranks_from="train+test (as Keras)",
            tokeniser="keras_imdb_words (reconstruction)",
            total_words=len(ranks),
        ),
    )


# --- sentence level and the raw-text datasets ---------------------------------------------


def read_aclimdb(path: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """``{"train": (texts, labels), "test": ...}`` of the labelled reviews (``unsup`` ignored).

    ``path`` is a tarball of ``aclImdb/`` or the extracted folder (or its parent).
    Reviews are ordered by (label, file id) so the result does not depend on the
    archive's member order.
    """
    pattern = re.compile(ACLIMDB_MANIFEST.pattern)
    found: dict[str, list[tuple[int, int, str]]] = {"train": [], "test": []}
    for relpath, data in iter_members(path, ACLIMDB_MANIFEST):
        match = pattern.match(relpath)
        split, polarity = match.group("folder").split("/")
        found[split].append(
            (int(polarity == "pos"), int(match.group("id")), data.decode("utf-8", errors="replace"))
        )
    out = {}
    for split, items in found.items():
        if not items:
            raise DataError(
                f"{path}: has no reviews under aclImdb/{split}/pos or aclImdb/{split}/neg; "
                f"it is not the Large Movie Review Dataset"
            )
        items.sort(key=lambda item: (item[0], item[1]))
        out[split] = ([item[2] for item in items], np.array([item[0] for item in items], dtype=np.int64))
    return out


def read_reviews_tsv(path: Path) -> tuple[list[str], np.ndarray]:
    """Texts and labels of a Kaggle-style TSV (columns ``id``, ``sentiment``, ``review``)."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, sep="\t")
    except (EOFError, OSError, zlib.error, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(f"{path} is truncated, corrupt or not a TSV ({err}); replace it") from err
    missing = {"sentiment", "review"} - set(frame.columns)
    if missing:
        raise DataError(
            f"{path}: lacks column(s) {sorted(missing)}; expected a header 'id<TAB>sentiment<TAB>review'"
        )
    labels = frame["sentiment"].to_numpy()
    if not np.isin(labels, (0, 1)).all():
        raise DataError(f"{path}: sentiment must be 0 or 1")
    return frame["review"].astype(str).tolist(), labels.astype(np.int64)


def encode_reviews(
    texts_by_split: dict[str, list[str]], level: str, vocab_splits=("train", "val"), **settings
) -> tuple[dict[str, np.ndarray], np.ndarray, dict]:
    """Clean, tokenise and encode raw reviews at ``level`` = ``word`` or ``sentence``.

    The vocabulary is ranked on the reviews of ``vocab_splits`` only. Returns
    ``({split: ids}, vocabulary, settings used)``.
    """
    cleaned = {split: [text.clean_review(t) for t in texts] for split, texts in texts_by_split.items()}
    ranks = text.word_ranks(text.words(t) for split in vocab_splits for t in cleaned.get(split, []))
    if level == "word":
        cfg = {**WORD_LEVEL, **settings}
        encoded = {
            s: text.encode_word_level(t, ranks, cfg["num_words"], cfg["maxlen"], cfg["index_from"])
            for s, t in cleaned.items()
        }
        vocab = text.vocabulary_array(
            ranks, cfg["num_words"], cfg["index_from"], ["<pad>", "<start>", "<oov>"]
        )
        cfg.update(start_char=text.START, oov_char=text.OOV)
    elif level == "sentence":
        cfg = {**SENTENCE_LEVEL, **settings}
        encoded = {
            s: text.encode_sentence_level(t, ranks, cfg["num_words"], cfg["max_sentences"], cfg["max_words"])
            for s, t in cleaned.items()
        }
        vocab = text.vocabulary_array(ranks, cfg["num_words"], 0, ["<pad>"])
    else:
        raise ValueError(f"level must be 'word' or 'sentence', got {level!r}")
    return encoded, vocab, {"encoding": f"{level}_level", "vocabulary_from": list(vocab_splits), **cfg}


def _prepare_imdb_sentence(raw_dir: Path, split_seed: int, val_size: int = 2500, **settings) -> Dataset:
    spec = _SPECS["imdb_sentence"]
    sources = require_raw_files(spec, raw_dir)  # verified before any tokenising
    reviews = read_aclimdb(locate_raw_file(raw_dir, ACLIMDB))
    texts_train, y_train = reviews["train"]
    texts_test, y_test = reviews["test"]
    carve = split_by_sizes(y_train, val_size, 0, split_seed)
    texts = {
        "train": [texts_train[i] for i in carve["train"]],
        "val": [texts_train[i] for i in carve["val"]],
        "test": texts_test,
    }
    labels = {"train": y_train[carve["train"]], "val": y_train[carve["val"]], "test": y_test}
    encoded, vocab, cfg = encode_reviews(texts, "sentence", **settings)
    arrays = {f"{a}_{s}": (encoded[s] if a == "x" else labels[s]) for s in texts for a in "xy"}
    arrays["vocabulary"] = vocab
    sizes = {s: len(labels[s]) for s in texts}
    return Dataset("imdb_sentence", arrays, _meta(spec, sources, split_seed, sizes, **cfg))


def _prepare_tsv(name: str, level: str):
    def prepare(
        raw_dir: Path, split_seed: int, val_size: int = 400, test_size: int = 1000, **settings
    ) -> Dataset:
        spec = _SPECS[name]
        sources = require_raw_files(spec, raw_dir)
        reviews, y = read_reviews_tsv(raw_dir / REVIEWS_TSV.name)
        split = split_by_sizes(y, val_size, test_size, split_seed)
        texts = {s: [reviews[i] for i in idx] for s, idx in split.items()}
        encoded, vocab, cfg = encode_reviews(texts, level, **settings)
        arrays = {f"{a}_{s}": (encoded[s] if a == "x" else y[idx]) for s, idx in split.items() for a in "xy"}
        arrays["vocabulary"] = vocab
        sizes = {s: len(idx) for s, idx in split.items()}
        return Dataset(name, arrays, _meta(spec, sources, split_seed, sizes, **cfg))

    return prepare


_SPECS = {
    "imdb_word": register_dataset(
        DatasetSpec(
            name="imdb_word",
            prepare=_prepare_imdb_word,
            description="Large Movie Review Dataset (aclImdb) in Keras's IMDB word-level encoding: "
            "vocabulary "
            "5,000, length 400, index_from 3; 22,500 train / 2,500 validation / 25,000 test",
            kind="text",
            source=ACLIMDB_SOURCE,
            raw_files=(ACLIMDB,),
        )
    ),
    "imdb_word_keras": register_dataset(
        DatasetSpec(
            name="imdb_word_keras",
            prepare=_prepare_imdb_word_keras,
            description="Keras IMDB (imdb.npz), word level: vocabulary 5,000, length 400, index_from 3; "
            "22,500 train / 2,500 validation / 25,000 test",
            kind="text",
            source="imdb_keras",
            raw_files=(IMDB_NPZ, IMDB_WORD_INDEX),
        )
    ),
    "imdb_sentence": register_dataset(
        DatasetSpec(
            name="imdb_sentence",
            prepare=_prepare_imdb_sentence,
            description="Large Movie Review Dataset (aclImdb), 15 sentences x 100 words, vocabulary 20,000; "
            "22,500 train / 2,500 validation / 25,000 test",
            kind="text",
            source=ACLIMDB_SOURCE,
            raw_files=(ACLIMDB,),
        )
    ),
    "imdb_word_small": register_dataset(
        DatasetSpec(
            name="imdb_word_small",
            prepare=_prepare_tsv("imdb_word_small", "word"),
            description="5,000 Kaggle IMDB reviews, word level as imdb_word (vocabulary 5,000, length 400); "
            "3,600 train / 400 validation / 1,000 test",
            kind="text",
            source="imdb_reviews_5000",
            raw_files=(REVIEWS_TSV,),
        )
    ),
    "imdb_sentence_small": register_dataset(
        DatasetSpec(
            name="imdb_sentence_small",
            prepare=_prepare_tsv("imdb_sentence_small", "sentence"),
            description="5,000 Kaggle IMDB reviews, sentence level as imdb_sentence (15 x 100, vocabulary "
            "20,000); 3,600 train / 400 validation / 1,000 test",
            kind="text",
            source="imdb_reviews_5000",
            raw_files=(REVIEWS_TSV,),
        )
    ),
}

"""Text preparation shared by every review dataset: cleaning, sentences, words, vocabulary.

The same functions prepare the Large Movie Review Dataset (aclImdb), the Kaggle
reviews TSV and any other raw review text, so that every text dataset is
tokenised identically. They follow the L2X authors' preprocessing (its
``imdb-sent/make_data.py``) with Keras's tokeniser conventions:

* :func:`clean_review`: HTML tags (``<br />``) are removed and entities decoded, as
  BeautifulSoup's ``get_text()`` does in the authors' script (a tag leaves no space,
  so ``end.<br /><br />Next`` becomes ``end.Next``, one sentence, as there);
  non-ASCII characters, backslashes, apostrophes and double quotes are removed,
  text is lower-cased.
* :func:`split_sentences`: a sentence ends at ``.``, ``!`` or ``?`` followed by
  white space, except a full stop after an initial (``h. g. wells``) or a title
  (``mr.``, ``dr.``, ...): a dependency-free stand-in for NLTK's ``sent_tokenize``.
* :func:`words`: Keras ``text_to_word_sequence``: the characters in
  :data:`KERAS_FILTERS` become spaces, then split on white space.
* :func:`word_ranks`: Keras ``Tokenizer.word_index``: rank 1 is the most frequent
  word; ties keep the order of first appearance.

Encodings (token id 0 is padding in both):

* word level (:func:`encode_word_level`, Keras IMDB conventions): ``[start] + words``
  with id = rank + ``index_from`` (3), start = 1, out-of-vocabulary = 2 for ids
  ``>= num_words``; sequences are cut or padded at the front to ``maxlen``
  (Keras ``pad_sequences`` defaults), as in the L2X word-level experiment.
* sentence level (:func:`encode_sentence_level`, as the L2X authors): the first
  ``max_sentences`` sentences; in each, the first ``max_words`` words whose id
  (= rank) is ``< num_words``; rarer words are dropped; padding at the end.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
_TAG = re.compile(r"<[^>]*>")
_SENTENCE_END = re.compile(r"(\w*)([.!?]+)\s+")
# a full stop after these does not end a sentence (titles; also any single letter: initials)
ABBREVIATIONS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "jr",
        "sr",
        "vs",
        "mt",
        "lt",
        "col",
        "gen",
        "sgt",
        "capt",
        "rev",
        "vol",
        "ft",
    }
)
_KERAS_IMDB_WORD = re.compile(r"(?:[^\W_]|')+")
_FILTER_TABLE = str.maketrans({c: " " for c in KERAS_FILTERS})
PAD, START, OOV = 0, 1, 2


def clean_review(text: str) -> str:
    """Strip markup and quotes, keep ASCII, lower-case (see the module docstring)."""
    text = html.unescape(_TAG.sub("", text))
    text = text.encode("ascii", "ignore").decode("ascii")
    text = text.replace("\\", "").replace("'", "").replace('"', "")
    return text.strip().lower()


def split_sentences(text: str) -> list[str]:
    """Sentences of a cleaned review; empty pieces are dropped."""
    pieces, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        before, marks = match.group(1), match.group(2)
        if marks == "." and (len(before) == 1 or before in ABBREVIATIONS):
            continue
        pieces.append(text[start : match.end(2)])
        start = match.end()
    pieces.append(text[start:])
    return [piece for piece in pieces if words(piece)]


def words(text: str) -> list[str]:
    """Keras ``text_to_word_sequence`` with its default filters."""
    return text.lower().translate(_FILTER_TABLE).split()


def keras_imdb_words(text: str) -> list[str]:
    """Words of a raw review as in Keras's ``imdb.npz``: lower-case runs of letters, digits and
    inner apostrophes; markup is not stripped (so ``<br />`` yields the word ``br``, rank 7 in
    Keras's index). Keras's own preprocessing script is not published: this is a reconstruction.
    """
    return [w.strip("'") for w in _KERAS_IMDB_WORD.findall(text.lower()) if w.strip("'")]


def word_ranks(token_lists: Iterable[Sequence[str]]) -> dict[str, int]:
    """``{word: rank}`` with rank 1 for the most frequent word (ties: first appearance)."""
    counts = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    ordered = sorted(counts.items(), key=lambda item: -item[1])  # stable: ties keep first appearance
    return {word: rank for rank, (word, _) in enumerate(ordered, start=1)}


def vocabulary_array(
    ranks: dict[str, int], num_words: int, index_from: int, reserved: Sequence[str]
) -> np.ndarray:
    """Words by token id, ``[num_words]`` str: ``vocabulary[id]`` is the word of that id."""
    vocab = np.array([f"<unused{i}>" for i in range(num_words)], dtype=object)
    for i, name in enumerate(reserved):
        vocab[i] = name
    for word, rank in ranks.items():
        token = rank + index_from
        if token < num_words:
            vocab[token] = word
    return vocab.astype(str)


def keras_ids(
    sequences: Iterable[Sequence[int]],
    num_words: int,
    index_from: int = 3,
    start_char: int = START,
    oov_char: int = OOV,
) -> list[list[int]]:
    """Keras IMDB id scheme applied to word ranks: shift, prepend start, cap the vocabulary."""
    out = []
    for ranks in sequences:
        ids = [start_char] + [r + index_from for r in ranks]
        out.append([i if i < num_words else oov_char for i in ids])
    return out


def pad_pre(sequences: Sequence[Sequence[int]], maxlen: int) -> np.ndarray:
    """Keras ``pad_sequences`` defaults: keep the last ``maxlen`` ids, zero-pad at the front."""
    out = np.zeros((len(sequences), maxlen), dtype=np.int32)
    for row, seq in enumerate(sequences):
        kept = list(seq)[-maxlen:]
        if kept:
            out[row, maxlen - len(kept) :] = kept
    return out


def encode_word_level(
    texts: Sequence[str], ranks: dict[str, int], num_words: int = 5000, maxlen: int = 400, index_from: int = 3
) -> np.ndarray:
    """Cleaned reviews to ``[N, maxlen]`` int32 ids (Keras IMDB conventions, see above)."""
    unknown = num_words  # any id >= num_words becomes OOV
    rank_lists = [[ranks.get(w, unknown) for w in words(t)] for t in texts]
    return pad_pre(keras_ids(rank_lists, num_words, index_from), maxlen)


def encode_sentence_level(
    texts: Sequence[str],
    ranks: dict[str, int],
    num_words: int = 20000,
    max_sentences: int = 15,
    max_words: int = 100,
) -> np.ndarray:
    """Cleaned reviews to ``[N, max_sentences, max_words]`` int32 ids (L2X authors' scheme)."""
    out = np.zeros((len(texts), max_sentences, max_words), dtype=np.int32)
    for i, text in enumerate(texts):
        for j, sentence in enumerate(split_sentences(text)[:max_sentences]):
            ids = [r for r in (ranks.get(w, num_words) for w in words(sentence)) if r < num_words]
            ids = ids[:max_words]
            out[i, j, : len(ids)] = ids
    return out

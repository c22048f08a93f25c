"""Networks of the L2X experiment: black boxes, explainers and approximators.

The input's *modality* is read off the arrays, not the dataset's name:

* ``tabular``: float ``x [B, d]``; the selectable units are the d features;
* ``words``: int64 token ids ``x [B, L]`` (0 = padding); units are the L positions;
* ``sentences``: int64 ``x [B, S, L]`` (0 = padding); units are the S sentences.

An *explanation* is a mask ``m`` over units (``[..., B, n]``; k-hot at test time,
relaxed during training). The approximator sees only the selected units and is
trained to reproduce the black box's predicted class distribution.

Architectures (Chen et al. 2018 / Xie & Ermon 2019, see ``shared/reference/paper.md``):

* word CNN black box: Embedding 50, Dropout 0.2, Conv1D(250, 3) ReLU, global max-pool,
  Dense 250, Dropout 0.2, ReLU, Dense C;
* word explainer: Embedding 50 (Dropout 0.2), Conv1D(100, 3); global branch max-pool +
  Dense 100; local branch two Conv1D(100, 3); concatenate, Dropout 0.2, Conv1D(100, 1),
  Conv1D(1, 1) -> one logit per token; word approximator: Embedding 50 times the mask,
  sum / k, Dense 250 ReLU, Dense C;
* sentence black box: hierarchical BiLSTM(100): words -> BiLSTM -> masked max-pool
  per sentence, sentences -> BiLSTM -> masked max-pool, Dense C (max-pooling instead of
  final states makes it indifferent to pre- or post-padding);
* sentence explainer/approximator: the word heads applied to sentence vectors from a
  sentence encoder (Embedding 50, Conv1D(100, 3) ReLU, masked max-pool over words);
* tabular (L2X synthetic): MLP black box d-200-200-C, explainer d-100-100-d,
  approximator on ``x * m``: d-200-200-C (ReLU).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

MODALITIES = ("tabular", "words", "sentences")


def modality_of(x) -> str:
    """``tabular`` / ``words`` / ``sentences`` from an input array's dtype and rank."""
    floating = getattr(x, "dtype", None) is not None and str(x.dtype).startswith(("float", "torch.float"))
    if floating and x.ndim == 2:
        return "tabular"
    if not floating and x.ndim == 2:
        return "words"
    if not floating and x.ndim == 3:
        return "sentences"
    raise ValueError(
        f"cannot tell the input modality from x with dtype {x.dtype} and shape {tuple(x.shape)}: "
        f"expected float [N, d] (tabular), integer token ids [N, L] (words) or [N, S, L] "
        f"(sentences)")


def unit_padding(x: Tensor, modality: str) -> Tensor:
    """Boolean ``[B, n]``: which units are padding (never for tabular)."""
    if modality == "tabular":
        return torch.zeros(x.shape, dtype=torch.bool, device=x.device)
    if modality == "words":
        return x == 0
    return (x == 0).all(-1)


def keep_units(x: Tensor, mask: Tensor, modality: str) -> Tensor:
    """The input with unselected units removed (0: the feature mean / the padding id).

    ``mask [B, n]`` is a k-hot (or any 0/1) selection.
    """
    if modality == "tabular":
        return x * mask.to(x.dtype)
    keep = mask > 0.5
    if modality == "sentences":
        keep = keep.unsqueeze(-1)
    return torch.where(keep, x, torch.zeros_like(x))


def _masked_max(h: Tensor, pad: Tensor, dim: int) -> Tensor:
    """Max over ``dim`` ignoring padded positions; all-padding slices give 0."""
    filled = h.masked_fill(pad.unsqueeze(-1), float("-inf"))
    out = filled.max(dim).values
    return torch.where(torch.isinf(out), torch.zeros_like(out), out)


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------- black boxes
class MLPBlackBox(nn.Module):
    def __init__(self, num_features: int, num_classes: int, hidden: int = 200):
        super().__init__()
        self.net = _mlp([num_features, hidden, hidden, num_classes])

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class WordCNNBlackBox(nn.Module):
    def __init__(self, vocab_size: int, num_classes: int, embed: int = 50, filters: int = 250,
                 hidden: int = 250, dropout: float = 0.2):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed)
        self.conv = nn.Conv1d(embed, filters, 3)
        self.drop = nn.Dropout(dropout)
        self.dense = nn.Linear(filters, hidden)
        self.out = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        h = self.drop(self.embedding(x)).transpose(1, 2)  # [B, E, L]
        h = torch.relu(self.conv(h)).max(-1).values
        return self.out(torch.relu(self.drop(self.dense(h))))


class HierarchicalLSTMBlackBox(nn.Module):
    def __init__(self, vocab_size: int, num_classes: int, embed: int = 100, hidden: int = 100):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed)
        self.word_lstm = nn.LSTM(embed, hidden, batch_first=True, bidirectional=True)
        self.sentence_lstm = nn.LSTM(2 * hidden, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        b, s, length = x.shape
        words = x.reshape(b * s, length)
        h, _ = self.word_lstm(self.embedding(words))  # [B*S, L, 2H]
        sentences = _masked_max(h, words == 0, 1).reshape(b, s, -1)
        h, _ = self.sentence_lstm(sentences)
        return self.out(_masked_max(h, (x == 0).all(-1), 1))


# --------------------------------------------------------------------------- unit encoders
class SentenceEncoder(nn.Module):
    """Sentence vectors ``[B, S, out]``: Embedding, Conv1D(out, 3) ReLU, masked max-pool."""

    def __init__(self, vocab_size: int, embed: int = 50, out: int = 100):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed)
        self.conv = nn.Conv1d(embed, out, 3, padding=1)
        self.out_features = out

    def forward(self, x: Tensor) -> Tensor:
        b, s, length = x.shape
        words = x.reshape(b * s, length)
        h = torch.relu(self.conv(self.embedding(words).transpose(1, 2))).transpose(1, 2)
        return _masked_max(h, words == 0, 1).reshape(b, s, -1)


class WordEncoder(nn.Module):
    def __init__(self, vocab_size: int, embed: int = 50):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed)
        self.out_features = embed

    def forward(self, x: Tensor) -> Tensor:
        return self.embedding(x)


# --------------------------------------------------------------------------- explainers
class SequenceExplainer(nn.Module):
    """One logit per unit of a sequence of unit vectors (the L2X text explainer)."""

    def __init__(self, encoder: nn.Module, channels: int = 100, dropout: float = 0.2):
        super().__init__()
        self.encoder = encoder
        self.drop = nn.Dropout(dropout)
        self.first = nn.Conv1d(encoder.out_features, channels, 3, padding=1)
        self.global_dense = nn.Linear(channels, channels)
        self.local1 = nn.Conv1d(channels, channels, 3, padding=1)
        self.local2 = nn.Conv1d(channels, channels, 3, padding=1)
        self.combine = nn.Conv1d(2 * channels, channels, 1)
        self.logit = nn.Conv1d(channels, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.drop(self.encoder(x)).transpose(1, 2)  # [B, C, n]
        h = torch.relu(self.first(h))
        global_info = torch.relu(self.global_dense(h.max(-1).values))  # [B, C]
        local = torch.relu(self.local2(torch.relu(self.local1(h))))
        both = torch.cat([global_info.unsqueeze(-1).expand_as(local), local], dim=1)
        h = torch.relu(self.combine(self.drop(both)))
        return self.logit(h).squeeze(1)  # [B, n]


class TabularExplainer(nn.Module):
    def __init__(self, num_features: int, hidden: int = 100):
        super().__init__()
        self.net = _mlp([num_features, hidden, hidden, num_features])

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


# --------------------------------------------------------------------------- approximators
class SequenceApproximator(nn.Module):
    """Class logits from the selected units: ``sum_i m_i e_i / k``, Dense 250 ReLU, Dense C.

    ``mask`` may carry a leading sample dimension ``[m, B, n]``; the output is then
    ``[m, B, C]``.
    """

    def __init__(self, encoder: nn.Module, k: int, num_classes: int, hidden: int = 250):
        super().__init__()
        self.encoder = encoder
        self.k = k
        self.head = _mlp([encoder.out_features, hidden, num_classes])

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        units = self.encoder(x)  # [B, n, E]
        pooled = (mask.unsqueeze(-1) * units).sum(-2) / self.k
        return self.head(pooled)


class TabularApproximator(nn.Module):
    def __init__(self, num_features: int, num_classes: int, hidden: int = 200):
        super().__init__()
        self.net = _mlp([num_features, hidden, hidden, num_classes])

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return self.net(x * mask)


# --------------------------------------------------------------------------- builders
def model_spec(x, num_classes: int, vocab_size: int | None = None) -> dict:
    """What is needed to rebuild the models for inputs like ``x`` (stored in checkpoints)."""
    modality = modality_of(x)
    spec = {"modality": modality, "num_classes": int(num_classes), "units": int(x.shape[1])}
    if modality != "tabular":
        if vocab_size is None:
            raise ValueError("token inputs need the vocabulary size (dataset meta 'vocab_size')")
        spec["vocab_size"] = int(vocab_size)
    return spec


def build_black_box(spec: dict) -> nn.Module:
    if spec["modality"] == "tabular":
        return MLPBlackBox(spec["units"], spec["num_classes"])
    if spec["modality"] == "words":
        return WordCNNBlackBox(spec["vocab_size"], spec["num_classes"])
    return HierarchicalLSTMBlackBox(spec["vocab_size"], spec["num_classes"])


def _encoder(spec: dict) -> nn.Module:
    if spec["modality"] == "words":
        return WordEncoder(spec["vocab_size"])
    return SentenceEncoder(spec["vocab_size"])


def build_explainer(spec: dict) -> nn.Module:
    if spec["modality"] == "tabular":
        return TabularExplainer(spec["units"])
    return SequenceExplainer(_encoder(spec))


def build_approximator(spec: dict, k: int) -> nn.Module:
    if spec["modality"] == "tabular":
        return TabularApproximator(spec["units"], spec["num_classes"])
    return SequenceApproximator(_encoder(spec), k, spec["num_classes"])

"""Networks of the L2X experiment: black boxes, explainers and approximators.

The input's *modality* is read off the arrays, not the dataset's name:

* ``tabular``: float ``x [B, d]``; the selectable units are the d features;
* ``words``: int64 token ids ``x [B, L]`` (0 = padding); units are the L positions;
* ``sentences``: int64 ``x [B, S, L]`` (0 = padding); units are the S sentences.

An *explanation* is a mask ``m`` over units (``[..., B, n]``; k-hot at test time,
relaxed during training). The approximator sees only the selected units and is
trained to reproduce the black box's predicted class distribution.

Two families of text networks, chosen per dataset by ``networks`` in the task config
(stored in the model spec, so a checkpoint rebuilds what it was trained with):

``paper``: the layer lists of the authors' Keras code (``subsets/L2X/imdb_word/explain.py``
and ``subsets/L2X/imdb_sent/explain.py`` of ermongroup/subsets):

* word CNN black box: Embedding 50, Dropout 0.2, Conv1D(250, 3, valid) ReLU, global
  max-pool, Dense 250, Dropout 0.2, ReLU, Dense C;
* word explainer: Embedding 50 (no dropout: the authors' code builds a Dropout layer and
  then discards its output), Conv1D(100, 3, same) ReLU; global branch max-pool + Dense
  100 ReLU; local branch two Conv1D(100, 3, same) ReLU; concatenate, Dropout 0.2,
  Conv1D(100, 1) ReLU, Conv1D(1, 1) -> one logit per token;
* word approximator: Embedding 50 times the mask, sum / k, Dense 250 ReLU, Dense C;
* sentence black box: hierarchical BiLSTM(100): Embedding 100, per sentence a
  BiLSTM(100) whose two final states (forward after the last word, backward after the
  first) form the sentence vector, a BiLSTM(100) over the 15 sentence vectors, final
  states, Dense C. No masking: padding words and sentences are read like any token, as
  Keras does without ``mask_zero``;
* sentence explainer: per sentence Embedding 100, Dropout 0.2, Conv1D(250, 3, valid)
  ReLU, global max-pool (250-d); over sentences Conv1D(100, 3, same) ReLU; global branch
  max-pool + Dense 100 ReLU; local branch Conv1D(50, 3) ReLU, Conv1D(50, 3) ReLU;
  concatenate, Dropout 0.2, Conv1D(50, 1) ReLU, Conv1D(1, 1);
* sentence approximator: its own sentence encoder like the explainer's (250-d), times the
  mask, sum / k, Dense 250 ReLU, Dense C.

Keras's LSTM has one bias vector per gate, PyTorch's two (``bias_ih`` and ``bias_hh``,
always summed). The paper networks fix ``bias_hh`` at zero and do not train it, so that
the trainable parameters, and the optimiser's per-parameter step sizes, are Keras's.

``compact`` (the project's smaller, padding-aware variant, the default): as ``paper`` for
words but with Dropout 0.2 on the explainer's embeddings; sentence black box max-pools
the BiLSTM outputs over real (non-padding) positions only, which makes it indifferent to
how much padding surrounds a sentence; sentence explainer/approximator: the word heads
(all 100 channels) on sentence vectors from Embedding 50, Conv1D(100, 3, same) ReLU,
masked max-pool over words.

Tabular (L2X synthetic), either family: MLP black box d-200-200-C, explainer
d-100-100-d, approximator on ``x * m``: d-200-200-C (ReLU).

Initialisation (``init`` in the task config): ``torch`` (PyTorch's defaults) or ``keras``
(Keras 2.2's defaults, as the authors': embeddings uniform(-0.05, 0.05); Dense and Conv1D
kernels Glorot-uniform, biases zero; LSTM input kernels Glorot-uniform, recurrent kernels
orthogonal, biases zero except the forget gate's, 1).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

MODALITIES = ("tabular", "words", "sentences")
NETWORKS = ("compact", "paper")
INITS = ("torch", "keras")


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
        f"(sentences)"
    )


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
    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embed: int = 50,
        filters: int = 250,
        hidden: int = 250,
        dropout: float = 0.2,
    ):
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


def _keras_single_bias(lstm: nn.LSTM) -> nn.LSTM:
    """Keep only one trainable bias per gate (``bias_ih``), as Keras's LSTM has."""
    for name, param in lstm.named_parameters():
        if name.startswith("bias_hh"):
            with torch.no_grad():
                param.zero_()
            param.requires_grad_(False)
    return lstm


def _final_states(lstm: nn.LSTM, x: Tensor) -> Tensor:
    """``[N, 2H]``: forward state after the last step, backward state after the first."""
    _, (h, _) = lstm(x)  # h: [2, N, H]
    return torch.cat([h[0], h[1]], dim=-1)


class HierarchicalLSTMBlackBox(nn.Module):
    """Words -> BiLSTM -> sentence vectors -> BiLSTM -> Dense C.

    ``pooling="final"`` (the authors'): each BiLSTM's two final states, no masking.
    ``pooling="masked_max"``: max over the outputs at non-padding positions.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embed: int = 100,
        hidden: int = 100,
        pooling: str = "masked_max",
        single_bias: bool = False,
    ):
        super().__init__()
        if pooling not in ("final", "masked_max"):
            raise ValueError(f"pooling must be 'final' or 'masked_max', got {pooling!r}")
        self.pooling = pooling
        self.embedding = nn.Embedding(vocab_size, embed)
        self.word_lstm = nn.LSTM(embed, hidden, batch_first=True, bidirectional=True)
        self.sentence_lstm = nn.LSTM(2 * hidden, hidden, batch_first=True, bidirectional=True)
        if single_bias:
            _keras_single_bias(self.word_lstm)
            _keras_single_bias(self.sentence_lstm)
        self.out = nn.Linear(2 * hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        b, s, length = x.shape
        words = x.reshape(b * s, length)
        if self.pooling == "final":
            sentences = self._sentence_states(words).reshape(b, s, -1)
            return self.out(_final_states(self.sentence_lstm, sentences))
        h, _ = self.word_lstm(self.embedding(words))  # [B*S, L, 2H]
        sentences = _masked_max(h, words == 0, 1).reshape(b, s, -1)
        h, _ = self.sentence_lstm(sentences)
        return self.out(_masked_max(h, (x == 0).all(-1), 1))

    def _sentence_states(self, words: Tensor) -> Tensor:
        """Final word-BiLSTM states ``[N, 2H]`` of every sentence.

        Without masking, every all-padding sentence gives the same vector, so it is computed
        once: reviews shorter than 15 sentences, and post-hoc inputs that keep one sentence of
        15, are mostly padding, and the word BiLSTM dominates the cost.
        """
        blank = (words == 0).all(-1)
        if not blank.any() or blank.all():
            return _final_states(self.word_lstm, self.embedding(words))
        (real_rows,) = torch.nonzero(~blank, as_tuple=True)
        (blank_rows,) = torch.nonzero(blank, as_tuple=True)
        real = _final_states(self.word_lstm, self.embedding(words[real_rows]))
        one_blank = _final_states(self.word_lstm, self.embedding(words[blank_rows[:1]]))
        states = real.new_zeros(len(words), real.shape[-1])
        states = states.index_put((real_rows,), real)
        return states.index_put((blank_rows,), one_blank.expand(len(blank_rows), -1))


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


class ConvSentenceEncoder(nn.Module):
    """The authors' sentence encoder: per sentence Embedding, Dropout, Conv1D(out, 3, valid)
    ReLU, global max-pool over all word positions (padding included); ``[B, S, out]``."""

    def __init__(self, vocab_size: int, embed: int = 100, out: int = 250, dropout: float = 0.2):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed)
        self.drop = nn.Dropout(dropout)
        self.conv = nn.Conv1d(embed, out, 3)
        self.out_features = out

    def forward(self, x: Tensor) -> Tensor:
        b, s, length = x.shape
        h = self.drop(self.embedding(x.reshape(b * s, length))).transpose(1, 2)
        return torch.relu(self.conv(h)).max(-1).values.reshape(b, s, -1)


class WordEncoder(nn.Module):
    def __init__(self, vocab_size: int, embed: int = 50):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed)
        self.out_features = embed

    def forward(self, x: Tensor) -> Tensor:
        return self.embedding(x)


# --------------------------------------------------------------------------- explainers
class SequenceExplainer(nn.Module):
    """One logit per unit of a sequence of unit vectors (the L2X text explainer).

    ``channels`` sizes the first convolution, ``global_channels`` the global branch's
    Dense, ``local_channels`` the two local convolutions and the 1x1 combining one (the
    authors: 100/100/100 at word level, 100/100/50 at sentence level). ``unit_dropout``
    acts on the encoder's unit vectors, ``dropout`` on the concatenated branches.
    """

    def __init__(
        self,
        encoder: nn.Module,
        channels: int = 100,
        dropout: float = 0.2,
        unit_dropout: float = 0.2,
        global_channels: int | None = None,
        local_channels: int | None = None,
    ):
        super().__init__()
        global_channels = channels if global_channels is None else global_channels
        local_channels = channels if local_channels is None else local_channels
        self.encoder = encoder
        self.drop = nn.Dropout(dropout)
        self.unit_drop = nn.Dropout(unit_dropout)
        self.first = nn.Conv1d(encoder.out_features, channels, 3, padding=1)
        self.global_dense = nn.Linear(channels, global_channels)
        self.local1 = nn.Conv1d(channels, local_channels, 3, padding=1)
        self.local2 = nn.Conv1d(local_channels, local_channels, 3, padding=1)
        self.combine = nn.Conv1d(global_channels + local_channels, local_channels, 1)
        self.logit = nn.Conv1d(local_channels, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.unit_drop(self.encoder(x)).transpose(1, 2)  # [B, C, n]
        h = torch.relu(self.first(h))
        global_info = torch.relu(self.global_dense(h.max(-1).values))  # [B, C]
        local = torch.relu(self.local2(torch.relu(self.local1(h))))
        both = torch.cat([global_info.unsqueeze(-1).expand(-1, -1, local.shape[-1]), local], dim=1)
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


# --------------------------------------------------------------------------- initialisation
@torch.no_grad()
def keras_init(module: nn.Module) -> nn.Module:
    """Re-initialise ``module`` with Keras 2.2's layer defaults (see the module docstring)."""
    for m in module.modules():
        if isinstance(m, nn.Embedding):
            nn.init.uniform_(m.weight, -0.05, 0.05)
        elif isinstance(m, (nn.Linear, nn.Conv1d)):
            # torch's fans of a [out, in, kernel] weight equal Keras's of [kernel, in, out]
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LSTM):
            hidden = m.hidden_size
            for name, param in m.named_parameters(recurse=False):
                if name.startswith("weight_ih"):
                    nn.init.xavier_uniform_(param)  # fans (input, 4H), as Keras's [input, 4H] kernel
                elif name.startswith("weight_hh"):
                    nn.init.orthogonal_(param)
                elif name.startswith("bias_ih"):
                    param.zero_()
                    param[hidden : 2 * hidden] = 1.0  # gate order i, f, g, o in both libraries
                elif name.startswith("bias_hh"):
                    param.zero_()
    return module


# --------------------------------------------------------------------------- builders
def model_spec(
    x, num_classes: int, vocab_size: int | None = None, networks: str = "compact", init: str = "torch"
) -> dict:
    """What is needed to rebuild the models for inputs like ``x`` (stored in checkpoints)."""
    modality = modality_of(x)
    if networks not in NETWORKS:
        raise ValueError(f"networks must be one of {', '.join(NETWORKS)}, got {networks!r}")
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
    spec = {
        "modality": modality,
        "num_classes": int(num_classes),
        "units": int(x.shape[1]),
        "networks": networks,
        "init": init,
    }
    if modality != "tabular":
        if vocab_size is None:
            raise ValueError("token inputs need the vocabulary size (dataset meta 'vocab_size')")
        spec["vocab_size"] = int(vocab_size)
    return spec


def _paper(spec: dict) -> bool:
    return spec.get("networks", "compact") == "paper"


def _initialised(model: nn.Module, spec: dict) -> nn.Module:
    return keras_init(model) if spec.get("init", "torch") == "keras" else model


def build_black_box(spec: dict) -> nn.Module:
    if spec["modality"] == "tabular":
        model = MLPBlackBox(spec["units"], spec["num_classes"])
    elif spec["modality"] == "words":
        model = WordCNNBlackBox(spec["vocab_size"], spec["num_classes"])
    elif _paper(spec):
        model = HierarchicalLSTMBlackBox(
            spec["vocab_size"], spec["num_classes"], pooling="final", single_bias=True
        )
    else:
        model = HierarchicalLSTMBlackBox(spec["vocab_size"], spec["num_classes"])
    return _initialised(model, spec)


def _encoder(spec: dict) -> nn.Module:
    if spec["modality"] == "words":
        return WordEncoder(spec["vocab_size"])
    if _paper(spec):
        return ConvSentenceEncoder(spec["vocab_size"])
    return SentenceEncoder(spec["vocab_size"])


def build_explainer(spec: dict) -> nn.Module:
    if spec["modality"] == "tabular":
        model = TabularExplainer(spec["units"])
    elif not _paper(spec):
        model = SequenceExplainer(_encoder(spec))
    elif spec["modality"] == "words":
        model = SequenceExplainer(_encoder(spec), unit_dropout=0.0)
    else:  # the sentence encoder drops out its word embeddings itself
        model = SequenceExplainer(
            _encoder(spec), channels=100, unit_dropout=0.0, global_channels=100, local_channels=50
        )
    return _initialised(model, spec)


def build_approximator(spec: dict, k: int) -> nn.Module:
    if spec["modality"] == "tabular":
        model = TabularApproximator(spec["units"], spec["num_classes"])
    else:
        model = SequenceApproximator(_encoder(spec), k, spec["num_classes"])
    return _initialised(model, spec)

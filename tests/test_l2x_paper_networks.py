"""The paper profile's L2X networks against the authors' Keras layer definitions, and the
settings that follow the authors' code (Keras initialisers and Adam, final-state BiLSTM,
selectable padding, checkpoint selection).

Parameter counts are derived by hand from the Keras layers of ermongroup/subsets
(subsets/L2X/imdb_word/explain.py, subsets/L2X/imdb_sent/explain.py):

* Embedding(V, E): V * E;  Dense(out) on in: in * out + out;
* Conv1D(out, kernel) on in channels: kernel * in * out + out;
* Keras LSTM(units) on in: 4 * (units * (in + units) + units), one bias per gate;
  Bidirectional doubles it.

PyTorch's LSTM carries two bias vectors per gate (``bias_ih`` + ``bias_hh``, summed), i.e.
4 * units extra parameters per direction that change nothing the layer can compute but
double the bias's effective step under Adam/RMSprop. The paper networks therefore keep
``bias_hh`` at zero and frozen, and the counts below are of *trainable* parameters, which
must equal Keras's exactly.
"""

import math

import numpy as np
import pytest
import torch

from subsetgrad.bench.data import Dataset
from subsetgrad.bench.experiments.l2x.evaluate import explain
from subsetgrad.bench.experiments.l2x.networks import build_approximator, build_black_box, build_explainer
from subsetgrad.bench.experiments.l2x.train import (
    Settings,
    make_optimizer,
    run_black_box,
    run_explainer,
    train_black_box,
)

CPU = torch.device("cpu")
WORD_VOCAB = 5000  # max_features
SENT_VOCAB = 20000 + 1  # Embedding(MAX_NUM_WORDS + 1, ...)


def embedding(v, e):
    return v * e


def dense(n_in, n_out):
    return n_in * n_out + n_out


def conv1d(n_in, n_out, kernel):
    return kernel * n_in * n_out + n_out


def keras_lstm(n_in, units):
    return 4 * (units * (n_in + units) + units)


def trainable(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


WORD = {
    "modality": "words",
    "num_classes": 2,
    "units": 400,
    "vocab_size": WORD_VOCAB,
    "networks": "paper",
    "init": "keras",
}
SENT = {
    "modality": "sentences",
    "num_classes": 2,
    "units": 15,
    "vocab_size": SENT_VOCAB,
    "networks": "paper",
    "init": "keras",
}


def test_word_black_box_parameter_count():
    expected = (
        embedding(WORD_VOCAB, 50)  # Embedding(max_features, 50); Dropout
        + conv1d(50, 250, 3)  # Conv1D(250, 3, valid, relu); GlobalMaxPooling1D
        + dense(250, 250)  # Dense(250); Dropout; relu
        + dense(250, 2)
    )  # Dense(2); softmax
    assert expected == 351_002
    assert trainable(build_black_box(WORD)) == expected


def test_word_explainer_parameter_count():
    expected = (
        embedding(WORD_VOCAB, 50)  # emb_gumbel (its Dropout output is discarded)
        + conv1d(50, 100, 3)  # conv1_gumbel, same
        + dense(100, 100)  # new_dense_1 on the global max-pool
        + conv1d(100, 100, 3)  # conv2_gumbel
        + conv1d(100, 100, 3)  # conv3_gumbel
        + conv1d(200, 100, 1)  # conv_last_gumbel on [global 100 | local 100]
        + conv1d(100, 1, 1)
    )  # conv4_gumbel: one logit per word
    assert expected == 355_601
    assert trainable(build_explainer(WORD)) == expected


def test_word_approximator_parameter_count():
    expected = (
        embedding(WORD_VOCAB, 50)  # its own Embedding, times the mask, sum / k
        + dense(50, 250)  # Dense(hidden_dims); relu
        + dense(250, 2)
    )  # new_dense
    assert expected == 263_252
    assert trainable(build_approximator(WORD, 10)) == expected


def test_sentence_black_box_parameter_count():
    expected = (
        embedding(SENT_VOCAB, 100)  # Embedding(MAX_NUM_WORDS + 1, 100)
        + 2 * keras_lstm(100, 100)  # Bidirectional(LSTM(100)) over words
        + 2 * keras_lstm(200, 100)  # Bidirectional(LSTM(100)) over sentences
        + dense(200, 2)
    )  # Dense(2, softmax)
    assert expected == 2_402_102
    model = build_black_box(SENT)
    assert trainable(model) == expected
    # the extra PyTorch bias: present, zero, not trained
    extra = [p for name, p in model.named_parameters() if "bias_hh" in name]
    assert len(extra) == 4 and all(not p.requires_grad and not p.any() for p in extra)
    assert trainable(model) + sum(p.numel() for p in extra) == sum(p.numel() for p in model.parameters())


def test_sentence_explainer_parameter_count():
    expected = (
        embedding(SENT_VOCAB, 100)  # sentence encoder: Embedding; Dropout
        + conv1d(100, 250, 3)  # Conv1D(250, 3, valid, relu); GlobalMaxPooling1D
        + conv1d(250, 100, 3)  # conv1_gumbel over the 15 sentence vectors
        + dense(100, 100)  # new_dense_1
        + conv1d(100, 50, 3)  # conv2_gumbel
        + conv1d(50, 50, 3)  # conv3_gumbel
        + conv1d(150, 50, 1)  # conv_last_gumbel on [global 100 | local 50]
        + conv1d(50, 1, 1)
    )  # conv4_gumbel
    assert expected == 2_190_751
    assert trainable(build_explainer(SENT)) == expected


def test_sentence_approximator_parameter_count():
    expected = (
        embedding(SENT_VOCAB, 100)  # its own sentence encoder (sentEncoder2)
        + conv1d(100, 250, 3)
        + dense(250, 250)  # Dense(250) on the selected sentence vectors / k
        + dense(250, 2)
    )  # new_dense
    assert expected == 2_138_602
    assert trainable(build_approximator(SENT, 1)) == expected


def test_compact_networks_are_a_different_family():
    compact = {**SENT, "networks": "compact", "init": "torch"}
    assert trainable(build_explainer(compact)) != trainable(build_explainer(SENT))
    assert build_explainer({**WORD, "networks": "compact"}).unit_drop.p == 0.2
    assert build_explainer(WORD).unit_drop.p == 0.0  # the authors discard the Dropout's output


# ----------------------------------------------------------------------------- behaviour
def test_sentence_black_box_reads_final_states_without_masking():
    torch.manual_seed(0)
    spec = {**SENT, "vocab_size": 40}
    model = build_black_box(spec).eval()
    x = torch.randint(1, 40, (2, 15, 100))
    x[:, :, 60:] = 0
    x[:, 10:] = 0
    with torch.no_grad():
        words = model.embedding(x.reshape(30, 100))
        out, _ = model.word_lstm(words)
        sentences = torch.cat([out[:, -1, :100], out[:, 0, 100:]], -1).reshape(2, 15, 200)
        out, _ = model.sentence_lstm(sentences)
        expected = model.out(torch.cat([out[:, -1, :100], out[:, 0, 100:]], -1))
        torch.testing.assert_close(model(x), expected)
        # padding is read like any token: more trailing padding changes the prediction
        shorter = x.clone()
        shorter[:, :, 50:] = 0
        assert not torch.allclose(model(shorter), model(x))


def test_keras_initialisation():
    torch.manual_seed(0)
    model = build_black_box({**SENT, "vocab_size": 40})
    assert model.embedding.weight.abs().max() <= 0.05
    lstm = model.word_lstm
    for suffix in ("l0", "l0_reverse"):
        bias = getattr(lstm, f"bias_ih_{suffix}")
        assert torch.equal(bias[100:200], torch.ones(100)) and not bias[:100].any() and not bias[200:].any()
        w_hh = getattr(lstm, f"weight_hh_{suffix}")  # [4H, H]: orthonormal columns
        torch.testing.assert_close(w_hh.T @ w_hh, torch.eye(100), atol=1e-5, rtol=0)
    conv = build_explainer(WORD).first
    assert not conv.bias.any()
    limit = math.sqrt(6 / (50 * 3 + 100 * 3))
    assert conv.weight.abs().max() <= limit


def test_keras_adam_follows_the_keras_update():
    """Keras 2.2.4's Adam, written as there (eps on sqrt(v) before the bias correction, which
    ``torch.optim.Adam`` cannot express), in float64 over a few steps."""
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(5, dtype=torch.float64))
    opt = make_optimizer("keras_adam", [p], 1e-3)
    ref, m, v = p.detach().clone(), torch.zeros(5, dtype=torch.float64), torch.zeros(5, dtype=torch.float64)
    for t in range(1, 6):
        # small gradients, where eps before or after the correction differ visibly
        g = torch.randn(5, dtype=torch.float64) * 1e-6
        p.grad = g.clone()
        opt.step()
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        lr_t = 1e-3 * math.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        ref = ref - lr_t * m / (v.sqrt() + 1e-7)
    torch.testing.assert_close(p.detach(), ref, rtol=1e-12, atol=1e-15)
    assert isinstance(opt, torch.optim.Optimizer)


def _toy_words(n=240, seed=0) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.integers(6, 30, size=(n, 12))
    x[:, :4] = 0  # leading padding, as Keras's pad_sequences
    y = rng.integers(0, 2, size=n)
    x[np.flatnonzero(y), 8] = 5
    arrays = {}
    for split, sl in {"train": slice(0, 160), "val": slice(160, 200), "test": slice(200, n)}.items():
        arrays[f"x_{split}"] = x[sl].astype(np.int32)
        arrays[f"y_{split}"] = y[sl].astype(np.int64)
    return Dataset("toy_paper_words", arrays, {"num_classes": 2, "vocab_size": 30})


def test_black_box_on_train_and_val_selected_by_test_accuracy(tmp_path):
    data = _toy_words()
    settings = Settings(
        epochs=3,
        batch_size=40,
        lr=1e-2,
        optimizer="keras_adam",
        train_on="train_val",
        checkpoint="test_accuracy",
    )
    _, spec, history, info = train_black_box(
        data, settings, 0, CPU, tmp_path / "bb.pt", networks="paper", init="keras"
    )
    test_accuracy = [row["test_accuracy"] for row in history]
    assert info["best_epoch"] == int(np.argmax(test_accuracy))
    assert spec["networks"] == "paper" and spec["init"] == "keras"
    with pytest.raises(ValueError, match="trains on"):
        train_black_box(
            data,
            Settings(epochs=1, batch_size=40, lr=1e-2, train_on="train_val"),
            0,
            CPU,
            tmp_path / "bb2.pt",
        )


def test_explainer_may_select_padding_and_keeps_lowest_val_loss(tmp_path):
    data = _toy_words()
    settings = {
        "k": 2,
        "networks": "paper",
        "init": "keras",
        "black_box": {"epochs": 2, "batch_size": 40, "lr": 1e-2, "optimizer": "keras_adam"},
        "explainer": {
            "epochs": 3,
            "batch_size": 40,
            "lr": 1e-2,
            "optimizer": "rmsprop",
            "checkpoint": "val_loss",
            "select_padding": True,
        },
    }
    black_box = run_black_box(data, settings, 0, CPU, tmp_path / "bb.pt")
    result = run_explainer(
        data, black_box.checkpoint, settings, "relaxed", "tau1", 0, CPU, tmp_path / "ex.pt", num_examples=2
    )
    curve = result.curve
    best = {r["metric"]: r["value"] for r in result.metrics}["best_epoch"]
    assert best == int(curve.val_loss.idxmin())
    explainer = build_explainer(black_box.checkpoint["spec"])
    explainer.load_state_dict(result.checkpoint["explainer"])
    x = torch.from_numpy(data.x("test")).long()
    logits, _ = explain(explainer, x, 2, "words", select_padding=True)
    assert torch.isfinite(logits).all()  # padding keeps its logit: it competes like any word
    masked, _ = explain(explainer, x, 2, "words", select_padding=False)
    assert torch.isinf(masked[:, :4]).all()


def test_sentence_black_box_computes_blank_sentences_once_with_the_same_outputs_and_gradients():
    from subsetgrad.bench.experiments.l2x.networks import HierarchicalLSTMBlackBox, _final_states

    torch.manual_seed(0)
    net = HierarchicalLSTMBlackBox(50, 2, embed=8, hidden=6, pooling="final", single_bias=True)
    x = torch.randint(1, 50, (3, 5, 7))
    x[0, 3:] = 0  # blank sentences, as in short reviews
    x[1, :, :2] = 0  # leading padding inside sentences
    x[2, [0, 1, 3, 4]] = 0  # a post-hoc input: one sentence kept
    words = x.reshape(15, 7)

    def reference(net):  # every sentence through the word BiLSTM, blank or not
        sentences = _final_states(net.word_lstm, net.embedding(words)).reshape(3, 5, -1)
        return net.out(_final_states(net.sentence_lstm, sentences))

    fast = net(x)
    fast.sum().backward()
    fast_grads = [p.grad.clone() for p in net.parameters() if p.requires_grad]
    net.zero_grad()
    slow = reference(net)
    slow.sum().backward()
    slow_grads = [p.grad.clone() for p in net.parameters() if p.requires_grad]
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-6)
    for a, b in zip(fast_grads, slow_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)

"""The paper profile's t-SNE networks have exactly the parameters of the authors' Keras models.

The authors' subsets/tsne/train_tsne.py (create_model) builds, for MNIST,
Dense(500, sigmoid) -> Dense(500, sigmoid) -> Dense(2000, sigmoid) -> Dense(d, linear) on
784 inputs, and for 20 Newsgroups (w100) Dense(150) -> Dense(150) -> Dense(500) -> Dense(d)
on 100 inputs. A Keras Dense(n) on m inputs has m * n weights and n biases. Pretraining
(the authors' pretrain) trains, at stage l, the first l layers plus a fresh
Dense(input_dim, linear) decoder on the stage's output.
"""

from pathlib import Path

import pytest
import torch
import yaml

from subsetgrad.bench.experiments.tsne.networks import build_network, linear_layers, stage_autoencoder

REPO = Path(__file__).resolve().parents[1]
INPUT_DIMS = {"mnist": 28 * 28, "newsgroups20_w100": 100}  # MNIST pixels; 100 keywords


def _paper_tsne() -> dict:
    """tasks.tsne of config/config.yaml deep-merged with config/paper.yaml."""

    def merge(base, over):
        if isinstance(base, dict) and isinstance(over, dict):
            return {k: merge(base.get(k), v) if k in base else v for k, v in over.items()} | {
                k: v for k, v in base.items() if k not in over
            }
        return over

    default = yaml.safe_load((REPO / "config/config.yaml").read_text())
    paper = yaml.safe_load((REPO / "config/paper.yaml").read_text())
    return merge(default, paper)["tasks"]["tsne"]


def _trainable(*modules: torch.nn.Module) -> int:
    params = {id(p): p for m in modules for p in m.parameters() if p.requires_grad}
    return sum(p.numel() for p in params.values())


# Hand counts, layer by layer: weights (fan_in * fan_out) + biases (fan_out).
#   MNIST:  784*500 + 500 = 392,500;  500*500 + 500 = 250,500;  500*2000 + 2000 = 1,002,000;
#           2000*d + d = 2001 d      -> 1,645,000 + 2001 d
#   20NG:   100*150 + 150 = 15,150;   150*150 + 150 = 22,650;   150*500 + 500 = 75,500;
#           500*d + d = 501 d         -> 113,300 + 501 d
NETWORK_PARAMETERS = {
    ("mnist", 2): 1_645_000 + 2001 * 2,  # 1,649,002
    ("mnist", 10): 1_645_000 + 2001 * 10,  # 1,665,010
    ("mnist", 30): 1_645_000 + 2001 * 30,  # 1,705,030
    ("newsgroups20_w100", 2): 113_300 + 501 * 2,  # 114,302
    ("newsgroups20_w100", 10): 113_300 + 501 * 10,  # 118,310
    ("newsgroups20_w100", 30): 113_300 + 501 * 30,  # 128,330
}

# Decoders of the pretraining stages: Dense(input_dim) on the stage's output width h,
# h * input_dim + input_dim parameters.
#   MNIST: 500*784 + 784 = 392,784 (stages 1, 2); 2000*784 + 784 = 1,568,784 (stage 3);
#          d*784 + 784 (stage 4, the output layer)
#   20NG:  150*100 + 100 = 15,100 (stages 1, 2);  500*100 + 100 = 50,100 (stage 3);
#          d*100 + 100 (stage 4)
DECODER_PARAMETERS = {
    "mnist": lambda d: [392_784, 392_784, 1_568_784, 784 * d + 784],
    "newsgroups20_w100": lambda d: [15_100, 15_100, 50_100, 100 * d + 100],
}
# Encoder prefixes: the cumulative sums of the layer counts above.
ENCODER_PARAMETERS = {
    "mnist": lambda d: [
        392_500,
        392_500 + 250_500,
        392_500 + 250_500 + 1_002_000,
        NETWORK_PARAMETERS[("mnist", d)],
    ],
    "newsgroups20_w100": lambda d: [
        15_150,
        15_150 + 22_650,
        15_150 + 22_650 + 75_500,
        NETWORK_PARAMETERS[("newsgroups20_w100", d)],
    ],
}


def test_paper_profile_names_the_authors_networks():
    task = _paper_tsne()
    assert task["networks"]["mnist"] == [500, 500, 2000]
    assert task["networks"]["newsgroups20_w100"] == [150, 150, 500]
    assert sorted(task["dims"]) == [2, 10, 30]
    assert set(task["datasets"]) == set(INPUT_DIMS)


@pytest.mark.parametrize("dataset,dim", sorted(NETWORK_PARAMETERS))
def test_network_parameter_count(dataset, dim):
    net = build_network(INPUT_DIMS[dataset], _paper_tsne()["networks"][dataset], dim)
    assert _trainable(net) == NETWORK_PARAMETERS[(dataset, dim)]
    # sigmoid after every hidden layer, none after the output (Keras activation=None)
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Linear", "Sigmoid"] * 3 + ["Linear"]


@pytest.mark.parametrize("dataset,dim", sorted(NETWORK_PARAMETERS))
def test_pretraining_autoencoder_parameter_counts(dataset, dim):
    net = build_network(INPUT_DIMS[dataset], _paper_tsne()["networks"][dataset], dim)
    assert len(linear_layers(net)) == 4  # four stages: every layer, the output layer included
    for stage in range(4):
        encoder, decoder = stage_autoencoder(net, stage, INPUT_DIMS[dataset])
        assert _trainable(decoder) == DECODER_PARAMETERS[dataset](dim)[stage]
        assert _trainable(encoder) == ENCODER_PARAMETERS[dataset](dim)[stage]
        assert _trainable(encoder, decoder) == (
            DECODER_PARAMETERS[dataset](dim)[stage] + ENCODER_PARAMETERS[dataset](dim)[stage]
        )


def test_initialisation_is_keras_glorot_uniform_with_zero_bias():
    """Keras Dense defaults: kernel U(-a, a) with a = sqrt(6 / (fan_in + fan_out)), bias 0."""
    torch.manual_seed(0)
    net = build_network(784, [500, 500, 2000], 2)
    for layer in linear_layers(net):
        fan_out, fan_in = layer.weight.shape
        limit = (6.0 / (fan_in + fan_out)) ** 0.5
        assert layer.weight.abs().max() <= limit
        assert layer.weight.abs().max() > 0.9 * limit  # spread over the whole interval
        assert (layer.bias == 0).all()

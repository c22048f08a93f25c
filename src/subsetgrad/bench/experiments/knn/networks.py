"""Embedding networks for deep kNN: image ``[N, C, H, W]`` in [0, 1] -> vector ``[N, d]``.

* ``mnist_convnet`` - the paper's MNIST net: conv 5x5x20, max-pool 2, conv 5x5x50,
  max-pool 2, fully connected 500, ReLU after the convolutions. The authors' net also
  puts a ReLU on the 500-d output (``output_relu=True``); without it the output is
  linear. d = 500.
* ``preact_resnet18`` - pre-activation ResNet-18 (He et al., ECCV 2016) with the
  CIFAR stem (3x3 conv, no initial pooling), stages of 64/128/256/512 channels and
  two pre-activation basic blocks each, then global average pooling. The authors'
  net pools the last block's sum directly (``final_bn_relu=False``); He et al.'s
  pre-activation design adds a final BN-ReLU before pooling (``final_bn_relu=True``).
  d = 512. Used for Fashion-MNIST and CIFAR-10 as in the paper.
* ``small_cnn`` - two 3x3 convolutions (32, 64 channels) each followed by 2x2
  max-pooling, then dense 128 and dense d; any image size. For ``digits`` and
  bring-your-own datasets.
* ``mlp`` - two hidden layers of 256 on the flattened image.

Every net starts by standardising its input per channel, ``(x - mean) / std``, with
the constants it is built with (stored as buffers, so checkpoints carry them): the
training split's statistics, fixed constants, or mean 0 / std 1 for raw pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Output dimension of the fixed-size paper nets.
PAPER_DIMS = {"mnist_convnet": 500, "preact_resnet18": 512}


class Standardize(nn.Module):
    """``(x - mean_c) / std_c`` per channel."""

    def __init__(self, mean: Tensor, std: Tensor):
        super().__init__()
        self.register_buffer("mean", mean.reshape(1, -1, 1, 1).clone())
        self.register_buffer("std", std.reshape(1, -1, 1, 1).clamp_min(1e-6).clone())

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


def small_net_init(module: nn.Module, output_layer: nn.Linear) -> None:
    """He (Kaiming-normal, fan-in) weights and zero biases for the hidden layers; the
    output layer's weights are a quarter of He's standard deviation.

    He keeps the activations' scale through the ReLU layers; the smaller output
    layer puts the initial scores -||h_q - h_j||^2 on the scale of the Gumbel
    noise (measured on ``digits``: per-query standard deviation of the scores
    about 2 for small_cnn, 1.3 for mlp, against 1.28 for Gumbel(0, 1)). With the
    plain He output the scores' spread is about 30: the sampled subsets are
    then almost deterministic and the score-function gradients very noisy; with
    PyTorch's default init the spread is about 0.001 and nothing is learned
    for hundreds of steps.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
    with torch.no_grad():
        output_layer.weight.mul_(0.25)


class MnistConvNet(nn.Module):
    def __init__(
        self, input_shape: tuple[int, int, int], embedding_dim: int = 500, output_relu: bool = False
    ):
        super().__init__()
        self.output_relu = output_relu
        c, h, w = input_shape
        if h < 12 or w < 12:
            raise ValueError(
                f"mnist_convnet needs images of at least 12x12 pixels, got {h}x{w}; "
                f"use small_cnn or mlp for smaller images"
            )
        self.conv1 = nn.Conv2d(c, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        flat = 50 * (((h - 4) // 2 - 4) // 2) * (((w - 4) // 2 - 4) // 2)
        self.fc = nn.Linear(flat, embedding_dim)

    def forward(self, x: Tensor) -> Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.fc(x.flatten(1))
        return F.relu(x) if self.output_relu else x


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-conv3x3 plus identity (or 1x1-conv projection) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        pre = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + skip


class PreActResNet18(nn.Module):
    def __init__(
        self, input_shape: tuple[int, int, int], embedding_dim: int = 512, final_bn_relu: bool = True
    ):
        super().__init__()
        if embedding_dim != 512:
            raise ValueError("preact_resnet18 has a fixed 512-d output")
        c = input_shape[0]
        self.stem = nn.Conv2d(c, 64, 3, 1, 1, bias=False)
        layers, channels = [], 64
        for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [PreActBlock(channels, width, stride), PreActBlock(width, width, 1)]
            channels = width
        self.blocks = nn.Sequential(*layers)
        # only built when used: an unused BatchNorm would still count as (decayed) parameters
        self.bn = nn.BatchNorm2d(512) if final_bn_relu else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(self.stem(x))
        if self.bn is not None:
            x = F.relu(self.bn(x))
        # the authors' avg_pool2d(x, 4) on the 4x4 maps of 28x28 and 32x32 inputs is this global mean
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


class SmallConvNet(nn.Module):
    """conv 3x3x32, max-pool 2, conv 3x3x64, max-pool 2, dense 128, dense d (ReLU between)."""

    def __init__(self, input_shape: tuple[int, int, int], embedding_dim: int = 64):
        super().__init__()
        c, h, w = input_shape
        self.features = nn.Sequential(
            nn.Conv2d(c, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2, ceil_mode=True),
        )
        flat = 64 * math.ceil(math.ceil(h / 2) / 2) * math.ceil(math.ceil(w / 2) / 2)
        self.head = nn.Sequential(nn.Linear(flat, 128), nn.ReLU(), nn.Linear(128, embedding_dim))
        small_net_init(self, self.head[-1])

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x).flatten(1))


class MLP(nn.Module):
    def __init__(self, input_shape: tuple[int, int, int], embedding_dim: int = 64):
        super().__init__()
        flat = input_shape[0] * input_shape[1] * input_shape[2]
        self.layers = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, 256),
            nn.ReLU(),
            nn.Linear(256, 256),
            nn.ReLU(),
            nn.Linear(256, embedding_dim),
        )
        small_net_init(self, self.layers[-1])

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


NETS: dict[str, Callable[..., nn.Module]] = {
    "mnist_convnet": MnistConvNet,
    "preact_resnet18": PreActResNet18,
    "small_cnn": SmallConvNet,
    "mlp": MLP,
}


def build_embedding_net(
    name: str,
    input_shape: tuple[int, int, int],
    channel_mean: Tensor,
    channel_std: Tensor,
    embedding_dim: int = 64,
    *,
    mnist_convnet_output_relu: bool = False,
    preact_resnet18_final_bn_relu: bool = True,
) -> nn.Sequential:
    """``Standardize`` followed by the net ``name``.

    ``embedding_dim`` applies to ``small_cnn`` and ``mlp``; the paper nets have
    their fixed sizes (:data:`PAPER_DIMS`). The two flags choose between the
    authors' variant of a paper net and this project's earlier one (see the module
    docstring); each affects only the net it names.
    """
    if name not in NETS:
        raise ValueError(f"unknown embedding net {name!r}; choose one of {', '.join(sorted(NETS))}")
    if len(input_shape) != 3:
        raise ValueError(f"images must be [N, C, H, W]; got per-image shape {tuple(input_shape)}")
    dim = PAPER_DIMS.get(name, embedding_dim)
    options = {
        "mnist_convnet": {"output_relu": mnist_convnet_output_relu},
        "preact_resnet18": {"final_bn_relu": preact_resnet18_final_bn_relu},
    }.get(name, {})
    return nn.Sequential(
        Standardize(channel_mean, channel_std), NETS[name](tuple(input_shape), dim, **options)
    )

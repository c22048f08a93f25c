"""Embedding networks of the t-SNE task and their optional autoencoder pretraining.

The paper's nets (after van der Maaten 2009): ``input - h_1 - h_2 - h_3 - d`` with
sigmoid hidden units and a linear output, e.g. MNIST 784-500-500-2000-d and
20 Newsgroups 100-150-150-500-d. Weights start as in the authors' Keras code
(Glorot-uniform, zero biases).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from subsetgrad.bench.training import TrainingRun


def build_network(input_dim: int, hidden: Sequence[int], out_dim: int) -> nn.Sequential:
    """``input_dim -> hidden[0] -> ... -> hidden[-1] -> out_dim``; sigmoid hidden, linear output.

    The ``nn.Linear`` layers are the even entries of the returned ``Sequential``
    (``linear_layers`` lists them), each but the last followed by a sigmoid.
    """
    if input_dim < 1 or out_dim < 1 or any(h < 1 for h in hidden):
        raise ValueError(
            f"layer sizes must be positive, got input {input_dim}, hidden {list(hidden)}, output {out_dim}"
        )
    sizes = [input_dim, *hidden, out_dim]
    modules: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(fan_in, fan_out)
        nn.init.xavier_uniform_(linear.weight)
        nn.init.zeros_(linear.bias)
        modules.append(linear)
        if i < len(sizes) - 2:
            modules.append(nn.Sigmoid())
    return nn.Sequential(*modules)


def linear_layers(net: nn.Sequential) -> list[nn.Linear]:
    return [m for m in net if isinstance(m, nn.Linear)]


def _prefix(net: nn.Sequential, num_layers: int) -> nn.Sequential:
    """The first ``num_layers`` linear layers with their activations (shared modules)."""
    out: list[nn.Module] = []
    seen = 0
    for module in net:
        if isinstance(module, nn.Linear):
            if seen == num_layers:
                break
            seen += 1
        out.append(module)
    return nn.Sequential(*out)


def stage_autoencoder(net: nn.Sequential, stage: int, input_dim: int) -> tuple[nn.Sequential, nn.Linear]:
    """``(encoder, decoder)`` of pretraining stage ``stage`` (0-based).

    The encoder is the first ``stage + 1`` layers of ``net`` with their activations
    (shared modules, so training it trains ``net``); the decoder is a fresh linear
    layer back to the input, initialised like every layer here (Glorot, zero bias),
    as the authors' ``Dense(input_dim, activation='linear')``.
    """
    layers = linear_layers(net)
    if not 0 <= stage < len(layers):
        raise ValueError(f"stage must be in 0..{len(layers) - 1}, got {stage}")
    encoder = _prefix(net, stage + 1)
    decoder = nn.Linear(layers[stage].out_features, input_dim).to(layers[stage].weight.device)
    nn.init.xavier_uniform_(decoder.weight)
    nn.init.zeros_(decoder.bias)
    return encoder, decoder


def pretrain_autoencoder(
    net: nn.Sequential,
    x: Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    generator: torch.Generator,
    checkpoint_path,
    context: dict | None = None,
    rmsprop_rho: float = 0.99,
    rmsprop_eps: float = 1e-8,
) -> list[dict]:
    """Greedy layer-wise autoencoder pretraining, as in the paper authors' code.

    Stage ``l = 1..L`` (the output layer included): the encoder is the first ``l``
    layers of ``net`` (already pretrained ones included, not frozen) and a fresh
    linear decoder maps its output back to the input; both minimise the mean
    squared reconstruction error ``||dec(enc_l(x)) - x||^2 / dim`` with a fresh
    RMSprop (``rmsprop_rho`` is torch's ``alpha``; Keras' defaults are rho 0.9 and
    eps 1e-7, torch's 0.99 and 1e-8) for ``epochs`` epochs. The decoders are
    thrown away. Each stage ends with a checkpoint of ``net`` and the RNG states
    (``TrainingRun``), so a killed job resumes at the next stage.
    Returns the per-stage history (final epoch's mean reconstruction error).
    """
    device = x.device
    layers = linear_layers(net)
    run = TrainingRun(checkpoint_path, {"net": net}, {"shuffle": generator}, context=context)
    run.resume()
    n = x.shape[0]
    for stage in run.epochs(len(layers), desc="pretrain layers"):
        encoder, decoder = stage_autoencoder(net, stage, x.shape[1])
        params = list(encoder.parameters()) + list(decoder.parameters())
        optimizer = torch.optim.RMSprop(params, lr=lr, alpha=rmsprop_rho, eps=rmsprop_eps)
        mean_error = float("nan")
        for epoch in range(epochs):
            order = torch.randperm(n, generator=generator).to(device)
            total, count = 0.0, 0
            for step, start in enumerate(range(0, n, batch_size)):
                batch = x[order[start : start + batch_size]]
                loss = ((decoder(encoder(batch)) - batch) ** 2).mean()
                run.check_finite(loss, stage * epochs + epoch, step)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * batch.shape[0]
                count += batch.shape[0]
            mean_error = total / count
        print(
            f"pretrain stage {stage + 1}/{len(layers)}: reconstruction MSE {mean_error:.5f}", file=sys.stderr
        )
        run.end_epoch(stage, {"reconstruction_mse": mean_error})
    return run.history

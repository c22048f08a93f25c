"""The four synthetic datasets of L2X (Chen et al., ICML 2018) with known true features.

Every sample is ``X ~ N(0, I_10)`` (except the switch feature, see below) and a binary
label drawn from

    P(y = 1 | x) = 1 / (1 + exp(f(x)))

with the sign convention of the L2X authors' code (``prob_1 = 1 / (1 + exp(f))``); the
sign does not change which features matter. ``f`` per dataset (features 1-based):

* XOR: ``f = X1 X2`` (true features {1, 2});
* orange skin: ``f = sum_{i<=4} X_i^2 - 4`` ({1, 2, 3, 4});
* nonlinear additive, paper formula: ``f = -100 sin(2 X1) + 2|X2| + X3 + exp(-X4)``
  ({1, 2, 3, 4}); ``variant="authors_code"`` uses the authors' released code instead,
  ``f = -100 sin(0.2 X1) + |X2| + X3 + exp(-X4) - 2.4``;
* switch: ``X10 ~ 1/2 N(3, 1) + 1/2 N(-3, 1)``; orange skin on X1-X4 where ``X10 > 0``,
  nonlinear additive on X5-X8 where ``X10 <= 0``; true features are those four plus X10
  (5 per sample). The branch is chosen by the sign of X10 (so the label is a function of
  the observed x); it differs from the mixture component in 0.13% of samples.

Each prepared dataset holds, besides ``x_<split>`` (float32 [N, 10]) and ``y_<split>``
(int64 sampled labels), ``mask_<split>`` (bool [N, 10], the true features of each
sample) and ``prob_<split>`` (float32, ``P(y = 1 | x)``). Everything is generated from
``split_seed``: the same seed gives the same arrays on every machine.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from subsetgrad.bench.data.core import Dataset, DatasetSpec, register_dataset

NUM_FEATURES = 10
#: Samples per split of every prepared L2X synthetic dataset (tasks may use fewer).
SPLIT_SIZES = {"train": 10_000, "val": 1_000, "test": 2_000}
NONLINEAR_ADDITIVE_VARIANTS = ("paper", "authors_code")


def _orange_skin_logit(x4: np.ndarray) -> np.ndarray:
    return np.sum(x4**2, axis=1) - 4.0


def _nonlinear_additive_logit(x4: np.ndarray, variant: str) -> np.ndarray:
    if variant == "paper":
        return -100.0 * np.sin(2.0 * x4[:, 0]) + 2.0 * np.abs(x4[:, 1]) + x4[:, 2] + np.exp(-x4[:, 3])
    if variant == "authors_code":
        return -100.0 * np.sin(0.2 * x4[:, 0]) + np.abs(x4[:, 1]) + x4[:, 2] + np.exp(-x4[:, 3]) - 2.4
    raise ValueError(
        f"unknown nonlinear-additive variant {variant!r}; "
        f"choose one of {', '.join(NONLINEAR_ADDITIVE_VARIANTS)}"
    )


def _first_features(n: int, count: int) -> np.ndarray:
    mask = np.zeros((n, NUM_FEATURES), dtype=bool)
    mask[:, :count] = True
    return mask


def l2x_xor(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x [n, 10], logit f [n], true-feature mask [n, 10])`` for XOR, ``f = X1 X2``."""
    x = rng.standard_normal((n, NUM_FEATURES))
    return x, x[:, 0] * x[:, 1], _first_features(n, 2)


def l2x_orange_skin(n: int, rng: np.random.Generator):
    """Orange skin: ``f = sum_{i<=4} X_i^2 - 4``."""
    x = rng.standard_normal((n, NUM_FEATURES))
    return x, _orange_skin_logit(x[:, :4]), _first_features(n, 4)


def l2x_nonlinear_additive(n: int, rng: np.random.Generator, variant: str = "paper"):
    """Nonlinear additive on X1-X4 (``variant``: ``paper`` or ``authors_code``)."""
    x = rng.standard_normal((n, NUM_FEATURES))
    return x, _nonlinear_additive_logit(x[:, :4], variant), _first_features(n, 4)


def l2x_switch(n: int, rng: np.random.Generator, variant: str = "paper"):
    """Switch: X10 from ``1/2 N(3,1) + 1/2 N(-3,1)`` picks orange skin (X1-X4) or
    nonlinear additive (X5-X8, formula ``variant``)."""
    x = rng.standard_normal((n, NUM_FEATURES))
    x[:, 9] += np.where(rng.random(n) < 0.5, 3.0, -3.0)
    positive = x[:, 9] > 0
    logit = np.where(positive, _orange_skin_logit(x[:, :4]), _nonlinear_additive_logit(x[:, 4:8], variant))
    mask = np.zeros((n, NUM_FEATURES), dtype=bool)
    mask[positive, :4] = True
    mask[~positive, 4:8] = True
    mask[:, 9] = True
    return x, logit, mask


GENERATORS: dict[str, Callable] = {
    "l2x_xor": l2x_xor,
    "l2x_orange_skin": l2x_orange_skin,
    "l2x_nonlinear_additive": l2x_nonlinear_additive,
    "l2x_switch": l2x_switch,
}


def generate(name: str, seed: int, sizes: dict[str, int] | None = None, **options) -> Dataset:
    """Generate the L2X synthetic dataset ``name`` from ``seed`` (splits independent draws).

    ``options`` go to the generator (``variant`` for nonlinear additive and switch).
    """
    if name not in GENERATORS:
        raise ValueError(f"unknown L2X synthetic dataset {name!r}; choose one of {', '.join(GENERATORS)}")
    sizes = dict(SPLIT_SIZES if sizes is None else sizes)
    rng = np.random.default_rng([int(seed), 4])  # 4: this stream, independent of other seed uses
    arrays = {}
    for split, n in sizes.items():
        x, logit, mask = GENERATORS[name](int(n), rng, **options)
        prob_1 = 1.0 / (1.0 + np.exp(np.clip(logit, -60.0, 60.0)))
        arrays[f"x_{split}"] = x.astype(np.float32)
        arrays[f"y_{split}"] = (rng.random(len(x)) < prob_1).astype(np.int64)
        arrays[f"mask_{split}"] = mask
        arrays[f"prob_{split}"] = prob_1.astype(np.float32)
    true_counts = sorted({int(c) for c in arrays[f"mask_{next(iter(sizes))}"].sum(1)})
    meta = {
        "source": f"generated: L2X synthetic '{name}' (Chen et al. 2018)",
        "split_seed": int(seed),
        "num_classes": 2,
        "num_features": NUM_FEATURES,
        "true_features_per_sample": true_counts,
        "options": options,
        "label": "y ~ Bernoulli(prob), prob = P(y=1|x) = 1/(1+exp(f(x)))",
        "extra_arrays": {"mask_<split>": "true features of each sample", "prob_<split>": "P(y=1|x)"},
    }
    return Dataset(name, arrays, meta)


def _register(name: str, description: str, options: tuple[str, ...] = ()) -> None:
    def prepare(raw_dir: Path, split_seed: int, **kwargs) -> Dataset:
        unknown = set(kwargs) - set(options)
        if unknown:
            raise ValueError(
                f"dataset {name!r} does not take option(s) {sorted(unknown)}; "
                f"allowed: {', '.join(options) or '(none)'}"
            )
        return generate(name, split_seed, **kwargs)

    register_dataset(DatasetSpec(name=name, prepare=prepare, description=description, kind="tabular"))


_register("l2x_xor", "L2X synthetic XOR, f = X1 X2, 10 Gaussian features, 2 true")
_register("l2x_orange_skin", "L2X synthetic orange skin, f = sum X1..X4^2 - 4, 4 true")
_register(
    "l2x_nonlinear_additive",
    "L2X synthetic nonlinear additive on X1..X4 (paper formula; option variant=authors_code)",
    options=("variant",),
)
_register(
    "l2x_switch",
    "L2X synthetic switch: X10 picks orange skin on X1..X4 or nonlinear additive on X5..X8, 5 true",
    options=("variant",),
)

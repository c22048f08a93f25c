"""Evaluation of explanations: post-hoc accuracy and, with known true features, ranks.

* Post-hoc accuracy (Chen et al. 2018): keep only the k selected units of each test input
  (the deterministic top-k of the explainer's logits), feed that to the black box, and
  count agreement with the black box's prediction on the full input. Reported with a
  95% Wilson score interval.
* Median rank: rank the units of a sample by the explainer's logits (1 = largest);
  the median of the ranks of the sample's true features, averaged over samples. Optimal
  value ``(t + 1) / 2`` for t true features; a uniformly random ranking has expectation
  ``(d + 1) / 2`` (by the symmetry r <-> d + 1 - r).
* True-positive rate at k: the fraction of a sample's true features among its top-k,
  averaged over samples.
"""
from __future__ import annotations

import html
import math

import numpy as np
import torch
from torch import Tensor

from ...gumbel import topk_khot
from .models import keep_units, unit_padding

Z95 = 1.959963984540054


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% for the default z)."""
    if trials <= 0:
        raise ValueError(f"trials must be positive, got {trials}")
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def mask_padding(logits: Tensor, padding: Tensor, k: int) -> Tensor:
    """Give padding units logit ``-inf`` (never selected), in rows with at least k real units.

    Rows with fewer than k real units keep finite padding logits so that a k-subset
    exists (selecting padding then changes nothing).
    """
    enough = (~padding).sum(-1, keepdim=True) >= k
    return logits.masked_fill(padding & enough, float("-inf"))


def explanation_mask(logits: Tensor, k: int) -> Tensor:
    """The test-time explanation: deterministic k-hot of the top-k logits."""
    return topk_khot(logits, k)


@torch.no_grad()
def predict(model, x: Tensor, batch_size: int = 500) -> Tensor:
    """Class probabilities ``[N, C]`` of ``model`` (in eval mode) on ``x``, batched."""
    model.eval()
    out = [torch.softmax(model(x[i:i + batch_size]), -1) for i in range(0, len(x), batch_size)]
    return torch.cat(out)


@torch.no_grad()
def posthoc_agreement(black_box, x: Tensor, masks: Tensor, modality: str,
                      batch_size: int = 500) -> Tensor:
    """Boolean ``[N]``: does the black box predict the same class on the selected units only?"""
    black_box.eval()
    agree = []
    for i in range(0, len(x), batch_size):
        xb, mb = x[i:i + batch_size], masks[i:i + batch_size]
        full = black_box(xb).argmax(-1)
        kept = black_box(keep_units(xb, mb, modality)).argmax(-1)
        agree.append(full == kept)
    return torch.cat(agree)


def posthoc_accuracy(black_box, x: Tensor, masks: Tensor, modality: str) -> dict[str, float]:
    """Post-hoc accuracy with its 95% Wilson interval (keys ``value``, ``low``, ``high``)."""
    agree = posthoc_agreement(black_box, x, masks, modality)
    successes, trials = int(agree.sum()), int(agree.numel())
    low, high = wilson_interval(successes, trials)
    return {"value": successes / trials, "low": low, "high": high, "n": trials}


def unit_ranks(logits: Tensor) -> Tensor:
    """Rank of every unit within its row, 1 = largest logit (ties broken by position)."""
    order = torch.argsort(logits, dim=-1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    positions = torch.arange(1, logits.shape[-1] + 1, device=logits.device).expand_as(order)
    return ranks.scatter_(-1, order, positions)


def median_true_rank(logits: Tensor, true_mask: Tensor) -> Tensor:
    """Per sample: median of the ranks of its true features (mean of the two middle ones
    for an even count), ``[N]`` float."""
    ranks = unit_ranks(logits).to(torch.float64)
    out = torch.empty(len(ranks), dtype=torch.float64)
    true_mask = true_mask.bool()
    counts = true_mask.sum(-1)
    for count in counts.unique().tolist():  # rows with equally many true features at once
        rows = counts == count
        if count == 0:
            raise ValueError("a sample has no true features; median rank is undefined")
        chosen = ranks[rows][true_mask[rows]].reshape(-1, count)
        out[rows] = chosen.median(-1).values if count % 2 else chosen.sort(-1).values[
            :, count // 2 - 1:count // 2 + 1].mean(-1)
    return out


def true_positive_rate(masks: Tensor, true_mask: Tensor) -> Tensor:
    """Per sample: |selected & true| / |true|, ``[N]``."""
    true_mask = true_mask.bool()
    hits = (masks.bool() & true_mask).sum(-1).to(torch.float64)
    return hits / true_mask.sum(-1).to(torch.float64)


# --------------------------------------------------------------------------- example explanations
_STYLE = """<style>
body { font-family: sans-serif; max-width: 60em; margin: 2em auto; line-height: 1.5; }
.sel { background: #ffd54f; font-weight: bold; padding: 0 2px; border-radius: 2px; }
.true { text-decoration: underline; }
.ex { border-bottom: 1px solid #ccc; padding: 0.8em 0; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
.meta { color: #555; font-size: 0.9em; }
</style>"""


def _token_text(token: int, vocabulary) -> str:
    if vocabulary is not None and 0 <= token < len(vocabulary) and vocabulary[token]:
        return str(vocabulary[token])
    return f"#{token}"


def examples_html(title: str, x: np.ndarray, masks: np.ndarray, modality: str, *,
                  full_pred: np.ndarray, kept_pred: np.ndarray, labels: np.ndarray,
                  vocabulary=None, true_mask: np.ndarray | None = None,
                  class_names=None) -> str:
    """An HTML page showing each example with its selected units highlighted."""
    names = list(class_names) if class_names is not None else None

    def cls(c):
        return html.escape(str(names[c])) if names and c < len(names) else str(int(c))

    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"{_STYLE}</head><body><h1>{html.escape(title)}</h1>",
             "<p class='meta'>Highlighted: the explainer's top-k units. Below each example: the "
             "label, the black box's prediction on the full input and on the selected units only."
             + (" Underlined: true features." if true_mask is not None else "") + "</p>"]
    for i in range(len(x)):
        sel = masks[i] > 0.5
        if modality == "tabular":
            cells = []
            for j, value in enumerate(x[i]):
                classes = " ".join(c for c, on in (("sel", sel[j]),
                                                   ("true", true_mask is not None and true_mask[i, j])) if on)
                cells.append(f"<td class='{classes}'>{value:.2f}</td>")
            header = "".join(f"<th>X{j + 1}</th>" for j in range(len(x[i])))
            body = f"<table><tr>{header}</tr><tr>{''.join(cells)}</tr></table>"
        elif modality == "words":
            words = []
            for j, token in enumerate(x[i]):
                if token == 0:
                    continue
                text = html.escape(_token_text(int(token), vocabulary))
                words.append(f"<span class='sel'>{text}</span>" if sel[j] else text)
            body = "<p>" + " ".join(words) + "</p>"
        else:
            sentences = []
            for j, sentence in enumerate(x[i]):
                tokens = [html.escape(_token_text(int(t), vocabulary)) for t in sentence if t != 0]
                if not tokens:
                    continue
                text = " ".join(tokens)
                sentences.append(f"<span class='sel'>{text}</span>" if sel[j] else text)
            body = "<p>" + " / ".join(sentences) + "</p>"
        parts.append(f"<div class='ex'><div class='meta'>example {i}: label {cls(labels[i])}, "
                     f"black box {cls(full_pred[i])} on the full input, {cls(kept_pred[i])} on the "
                     f"selection</div>{body}</div>")
    parts.append("</body></html>\n")
    return "\n".join(parts)

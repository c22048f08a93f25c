"""The metrics of a trained L2X run on the test set, and its example explanations.

Every metric row follows :data:`subsetgrad.bench.metrics.METRIC_COLUMNS` with task ``l2x``.

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

A black box is evaluated with its test accuracy and two reference explanations evaluated
like the learned ones: ``random_selection`` (k units drawn uniformly without replacement per
test sample, padding excluded whatever the explainer's ``select_padding``: a reference that
never wastes a pick) and, where the dataset has ground truth, ``true_features`` (the true
features as the explanation). An explainer is evaluated with ``posthoc_accuracy``
(``_ci_low``/``_ci_high``: 95% Wilson), ``approximator_fidelity`` and, with ground truth,
``median_rank`` and ``tpr_at_k``.
"""

from __future__ import annotations

import html
import math

import numpy as np
import torch
from torch import Tensor

from subsetgrad.bench.experiments.l2x.networks import keep_units, unit_padding
from subsetgrad.gumbel import topk_khot

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
    out = [torch.softmax(model(x[i : i + batch_size]), -1) for i in range(0, len(x), batch_size)]
    return torch.cat(out)


@torch.no_grad()
def posthoc_agreement(black_box, x: Tensor, masks: Tensor, modality: str, batch_size: int = 500) -> Tensor:
    """Boolean ``[N]``: does the black box predict the same class on the selected units only?"""
    black_box.eval()
    agree = []
    for i in range(0, len(x), batch_size):
        xb, mb = x[i : i + batch_size], masks[i : i + batch_size]
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
        out[rows] = (
            chosen.median(-1).values
            if count % 2
            else chosen.sort(-1).values[:, count // 2 - 1 : count // 2 + 1].mean(-1)
        )
    return out


def true_positive_rate(masks: Tensor, true_mask: Tensor) -> Tensor:
    """Per sample: |selected & true| / |true|, ``[N]``."""
    true_mask = true_mask.bool()
    hits = (masks.bool() & true_mask).sum(-1).to(torch.float64)
    return hits / true_mask.sum(-1).to(torch.float64)


# --------------------------------------------------------------------------- metric rows of a run
def explanation_rows(
    common: dict, black_box, test: dict, masks: Tensor, modality: str, logits: Tensor | None = None
) -> list[dict]:
    """Rows of one explanation method on ``test`` (``x`` on the models' device, ``mask`` =
    true features where known): post-hoc accuracy with its interval; with ground truth the
    true-positive rate at k and, given the logits that rank the units, the median rank."""
    rows = []
    ph = posthoc_accuracy(black_box, test["x"], masks, modality)
    rows += [
        {**common, "metric": "posthoc_accuracy", "value": ph["value"]},
        {**common, "metric": "posthoc_accuracy_ci_low", "value": ph["low"]},
        {**common, "metric": "posthoc_accuracy_ci_high", "value": ph["high"]},
    ]
    if "mask" in test:
        if logits is not None:
            rows.append(
                {
                    **common,
                    "metric": "median_rank",
                    "value": float(median_true_rank(logits.cpu(), test["mask"]).mean()),
                }
            )
        rows.append(
            {
                **common,
                "metric": "tpr_at_k",
                "value": float(true_positive_rate(masks.cpu(), test["mask"]).mean()),
            }
        )
    return rows


def evaluate_black_box(
    model,
    modality: str,
    test: dict,
    k: int,
    seed: int,
    common: dict,
    device: torch.device,
    prob_test: np.ndarray | None = None,
) -> list[dict]:
    """Test accuracy (with its Wilson interval), the Bayes classifier's accuracy where the
    dataset's ``P(y=1|x)`` is known (``prob_test``), and the reference explanations.

    ``test``: CPU tensors of the test split; ``common``: the columns every row carries."""
    x_test = test["x"].to(device)
    probs = predict(model, x_test).cpu()
    correct = int((probs.argmax(-1) == test["y"]).sum())
    low, high = wilson_interval(correct, len(test["y"]))
    rows = [
        {**common, "metric": "black_box_test_accuracy", "value": correct / len(test["y"])},
        {**common, "metric": "black_box_test_accuracy_ci_low", "value": low},
        {**common, "metric": "black_box_test_accuracy_ci_high", "value": high},
    ]
    if prob_test is not None:  # the Bayes classifier's accuracy, for scale
        bayes = float(((prob_test[: len(test["y"])] > 0.5).astype(np.int64) == test["y"].numpy()).mean())
        rows.append({**common, "metric": "bayes_test_accuracy", "value": bayes})
    # Reference explanation 1: k units uniformly at random (padding excluded).
    gen = torch.Generator().manual_seed(seed)
    scores = torch.rand(test["x"].shape[:2], generator=gen)
    scores = mask_padding(scores, unit_padding(test["x"], modality), k)
    random_masks = torch.zeros_like(scores).scatter(-1, scores.topk(k, -1).indices, 1.0)
    x_dev = {**test, "x": x_test}
    rows += explanation_rows(
        {**common, "estimator": "random_selection"},
        model,
        x_dev,
        random_masks.to(device),
        modality,
        scores.to(device),
    )
    if "mask" in test:  # Reference explanation 2: the true features.
        rows += explanation_rows(
            {**common, "estimator": "true_features"}, model, x_dev, test["mask"].float().to(device), modality
        )
    return rows


def evaluate_explainer(
    explainer,
    approximator,
    black_box,
    modality: str,
    test: dict,
    k: int,
    common: dict,
    device: torch.device,
    select_padding: bool = False,
) -> tuple[list[dict], dict]:
    """Rows of a trained explainer + approximator on ``test`` (CPU tensors) and what its
    example page shows of the test samples: ``masks``, ``full_class`` (the black box on the
    full input), both on ``device``."""
    x_test = test["x"].to(device)
    logits, masks = explain(explainer, x_test, k, modality, select_padding=select_padding)
    rows = explanation_rows(common, black_box, {**test, "x": x_test}, masks, modality, logits)
    with torch.no_grad():
        approximator.eval()
        approx_class = torch.cat(
            [
                approximator(x_test[i : i + 500], masks[i : i + 500]).argmax(-1)
                for i in range(0, len(x_test), 500)
            ]
        )
        full_class = predict(black_box, x_test).argmax(-1)
    rows.append(
        {
            **common,
            "metric": "approximator_fidelity",
            "value": float((approx_class == full_class).double().mean()),
        }
    )
    return rows, {"masks": masks, "full_class": full_class}


@torch.no_grad()
def explain(
    explainer: torch.nn.Module,
    x: Tensor,
    k: int,
    modality: str,
    batch_size: int = 500,
    select_padding: bool = False,
) -> tuple[Tensor, Tensor]:
    """Explainer logits (padding at -inf unless ``select_padding``) and the test-time k-hot
    explanations, ``[N, n]`` each."""
    explainer.eval()
    chunks = []
    for i in range(0, len(x), batch_size):
        logits = explainer(x[i : i + batch_size])
        if not select_padding:
            logits = mask_padding(logits, unit_padding(x[i : i + batch_size], modality), k)
        chunks.append(logits)
    logits = torch.cat(chunks)
    return logits, explanation_mask(logits, k)


@torch.no_grad()
def example_page(
    title: str,
    black_box,
    test: dict,
    shown: dict,
    modality: str,
    count: int,
    vocabulary=None,
    class_names=None,
) -> str:
    """:func:`examples_html` of the first ``count`` test samples (``shown``: what
    :func:`evaluate_explainer` returns beside its rows)."""
    count = min(count, len(test["x"]))
    masks, full_class = shown["masks"][:count], shown["full_class"][:count]
    x = test["x"][:count].to(masks.device)
    kept_class = black_box(keep_units(x, masks, modality)).argmax(-1)
    return examples_html(
        title,
        test["x"][:count].numpy(),
        masks.cpu().numpy(),
        modality,
        full_pred=full_class.cpu().numpy(),
        kept_pred=kept_class.cpu().numpy(),
        labels=test["y"][:count].numpy(),
        vocabulary=vocabulary,
        true_mask=test["mask"][:count].numpy() if "mask" in test else None,
        class_names=class_names,
    )


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


def examples_html(
    title: str,
    x: np.ndarray,
    masks: np.ndarray,
    modality: str,
    *,
    full_pred: np.ndarray,
    kept_pred: np.ndarray,
    labels: np.ndarray,
    vocabulary=None,
    true_mask: np.ndarray | None = None,
    class_names=None,
) -> str:
    """An HTML page showing each example with its selected units highlighted."""
    names = list(class_names) if class_names is not None else None

    def cls(c):
        return html.escape(str(names[c])) if names and c < len(names) else str(int(c))

    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"{_STYLE}</head><body><h1>{html.escape(title)}</h1>",
        "<p class='meta'>Highlighted: the explainer's top-k units. Below each example: the "
        "label, the black box's prediction on the full input and on the selected units only."
        + (" Underlined: true features." if true_mask is not None else "")
        + "</p>",
    ]
    for i in range(len(x)):
        sel = masks[i] > 0.5
        if modality == "tabular":
            cells = []
            for j, value in enumerate(x[i]):
                classes = " ".join(
                    c
                    for c, on in (("sel", sel[j]), ("true", true_mask is not None and true_mask[i, j]))
                    if on
                )
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
        parts.append(
            f"<div class='ex'><div class='meta'>example {i}: label {cls(labels[i])}, "
            f"black box {cls(full_pred[i])} on the full input, {cls(kept_pred[i])} on the "
            f"selection</div>{body}</div>"
        )
    parts.append("</body></html>\n")
    return "\n".join(parts)

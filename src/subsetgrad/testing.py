"""Conformance checks for k-subset gradient estimators: :func:`check_estimator`.

Every builtin estimator passes them, and an estimator written elsewhere (see
:mod:`subsetgrad.plugins`) should too before it enters a benchmark. Each check raises
:class:`EstimatorCheckError` naming itself and what it saw; statistical checks use fixed
seeds and thresholds derived from the Monte Carlo standard error, so a run is reproducible
and a correct estimator fails one only with the stated small probability.

The checks, in order (their names appear in the error messages):

``construct``
    the class builds with ``k`` (and ``num_samples`` where it declares that option).
``shapes``
    on CPU and every CUDA device present, in float32 and float64, for logits of shape
    ``[n]``, ``[3, n]`` and ``[2, 3, n]`` and with ``num_samples`` 1 (where allowed) and 3:
    ``khot`` has the logits' dtype and device and shape ``[m, ..., n]`` (``[..., n]`` for one
    sample), finite values in [0, 1] summing to at most k; ``indices`` and ``log_prob``,
    where given, have shapes ``[..., k]`` and ``[...]``.
``surrogate_value``
    the surrogate's value is the mean loss.
``gradients``
    the gradient reaches the logits and the parameters of the layer upstream of them, is
    finite and not zero.
``extreme_logits``, ``ties``, ``masks``
    finite gradients for logits of magnitude 50, for all-equal logits, and for rows with
    ``n - k`` items masked by ``-inf`` (which must get no mass in ``khot``).
``determinism``
    two copies sampling from generators with the same seed give identical ``khot`` and
    gradients.
``state_dict``
    a copy restored from ``state_dict`` after a training step continues identically.
``target_family``
    on a small problem, the subsets drawn (``indices`` where given, else the top-k of
    ``khot``) follow the declared ``target`` family (``"pl_wor"``: :func:`subset_probs`;
    ``"cb"``: :func:`cb_subset_probs`): Pearson's chi-square test against the exact
    subset probabilities. An estimator whose class sets ``approximate_target = True``
    (its forward pass only approximates the family) gets its distance measured and
    reported instead.
``gradient_direction``
    the mean gradient estimate has a positive cosine with the exact gradient of the
    expected loss under the family (for every estimator, biased or not).
``unbiasedness``
    for an estimator declaring ``biased = False``: the mean of single-sample gradient
    estimates equals the exact gradient within Monte Carlo error (a chi-square test of the
    standardised errors). For one declaring ``biased = True`` the bias is measured and
    reported (:class:`EstimatorReport`), never a failure.

Only torch is used; chi-square p-values come from :func:`torch.special.gammaincc`.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import itertools
import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ._estimator_base import Estimator
from .cb import cb_subset_probs
from .exact import subset_probs

#: A statistical check fails when its p-value is below this (a correct estimator fails one
#: of the two statistical checks with probability about twice this, for a fixed seed never).
SIGNIFICANCE = 1e-4

_FAMILIES = {"pl_wor": subset_probs, "cb": cb_subset_probs}
# The small problem of the statistical checks: distinct logits, n = 5 items, subsets of k = 2
# (ten subsets, each drawn with probability at least 0.01).
_SMALL_LOGITS = (0.6, -0.8, 1.2, 0.0, -0.4)
_SMALL_K = 2


class EstimatorCheckError(AssertionError):
    """An estimator failed a conformance check; ``check`` names it."""

    def __init__(self, check: str, message: str):
        super().__init__(f"check {check!r} failed: {message}")
        self.check = check


@dataclass
class EstimatorReport:
    """What :func:`check_estimator` measured, for an estimator that passed.

    ``family_p_value``: chi-square p-value of the drawn subsets against the declared family
    (``family_tv``: their total-variation distance from it; both for approximate
    targets too). ``bias``: relative bias ``|mean estimate - exact| / |exact|`` of the
    gradient on the small problem, with ``bias_p_value`` the probability of an error this
    large under unbiasedness, and ``cosine`` the cosine of the mean estimate with the exact
    gradient. ``devices`` and ``checks``: where it ran and what passed.
    """

    name: str
    devices: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    family_p_value: float = math.nan
    family_tv: float = math.nan
    bias: float = math.nan
    bias_p_value: float = math.nan
    cosine: float = math.nan


def chi2_sf(statistic: float, dof: int) -> float:
    """P(X >= statistic) for X ~ chi-square(dof), by the regularised upper incomplete gamma."""
    value = torch.special.gammaincc(
        torch.tensor(dof / 2.0, dtype=torch.float64), torch.tensor(statistic / 2.0, dtype=torch.float64)
    )
    return float(value)


def _fail(check: str, message: str) -> EstimatorCheckError:
    return EstimatorCheckError(check, message)


@contextlib.contextmanager
def _running(check: str, where: str = ""):
    """Turn an exception the estimator raises during ``check`` into a failure of that check."""
    try:
        yield
    except EstimatorCheckError:
        raise
    except Exception as err:
        suffix = f" ({where})" if where else ""
        raise _fail(check, f"the estimator raised {type(err).__name__}: {err}{suffix}") from err


class _Subject:
    """Builds fresh copies of the estimator under test, with a given ``num_samples``."""

    def __init__(self, estimator, k: int | None, options: dict):
        if inspect.isclass(estimator):
            self.cls, self.instance = estimator, None
            self.k = _SMALL_K if k is None else k
            self.options = dict(options)
        elif isinstance(estimator, nn.Module):
            self.cls, self.instance = type(estimator), estimator
            self.k = getattr(estimator, "k", None) if k is None else k
            self.options = {}
            if not isinstance(self.k, int):
                raise _fail("construct", "the instance has no integer attribute k; pass k=")
        else:
            raise _fail(
                "construct", f"expected an estimator class or instance, got {type(estimator).__name__}"
            )
        self.name = getattr(self.cls, "name", "") or self.cls.__qualname__
        self.option_names = tuple(getattr(self.cls, "option_names", ()))

    def build(self, num_samples: int | None = None, k: int | None = None) -> nn.Module:
        if self.instance is not None:
            made = copy.deepcopy(self.instance)
            if num_samples is not None:
                made.num_samples = num_samples
            if k is not None:
                made.k = k
            return made
        options = dict(self.options)
        if num_samples is not None and "num_samples" in self.option_names:
            options["num_samples"] = num_samples
        try:
            return self.cls(self.k if k is None else k, **options)
        except Exception as err:
            raise _fail(
                "construct", f"{self.name}(k, **{options}) raised {type(err).__name__}: {err}"
            ) from err

    def sample_counts(self) -> list[int | None]:
        """``num_samples`` values to try: 1 where the class accepts it, and 3; an instance
        is tried as configured (``None``: leave ``num_samples`` as it is)."""
        if self.instance is not None or "num_samples" not in self.option_names:
            return [None]
        counts = []
        for m in (1, 3):
            try:
                self.build(num_samples=m)
            except EstimatorCheckError:
                continue
            counts.append(m)
        return counts or [None]


def _stacked(estimator) -> int | None:
    """The leading sample dimension ``m`` of ``khot``, or None for a single sample."""
    m = getattr(estimator, "num_samples", 1)
    return m if isinstance(m, int) and m > 1 else None


def _loss(khot: Tensor, weights: Tensor) -> Tensor:
    """A loss of the subset that is not linear in it: ``c.z + (d.z)^2 / 2`` per sample."""
    linear, quadratic = weights[0], weights[1]
    return (khot * linear).sum(-1) + 0.5 * (khot * quadratic).sum(-1) ** 2


def _loss_weights(n: int, dtype, device) -> Tensor:
    generator = torch.Generator().manual_seed(1234)
    return torch.randn(2, n, generator=generator, dtype=torch.float64).to(dtype=dtype, device=device)


def _generator(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _check_sample(check: str, estimator, sample, logits: Tensor, k: int) -> None:
    khot = getattr(sample, "khot", None)
    if not isinstance(khot, Tensor):
        raise _fail(
            check, f"sample() must return a SubsetSample with a khot tensor, got {type(sample).__name__}"
        )
    m = _stacked(estimator)
    expected = ((m,) if m else ()) + tuple(logits.shape)
    if tuple(khot.shape) != expected:
        raise _fail(
            check,
            f"khot has shape {tuple(khot.shape)} for logits {tuple(logits.shape)} and num_samples={m or 1}; "
            f"expected {expected}",
        )
    if khot.dtype != logits.dtype or khot.device != logits.device:
        raise _fail(
            check,
            f"khot is {khot.dtype} on {khot.device} for logits {logits.dtype} on {logits.device}; "
            f"it must follow the logits",
        )
    values = khot.detach()
    if not torch.isfinite(values).all():
        raise _fail(check, "khot has non-finite entries")
    eps = 1e-4 if values.dtype == torch.float32 else 1e-8
    if (values < -eps).any():
        raise _fail(check, f"khot has negative entries (min {float(values.min()):g})")
    if (values.sum(-1) > k + eps * k * 10).any():
        raise _fail(check, f"khot sums to more than k={k} (max {float(values.sum(-1).max()):g})")
    leading = tuple(khot.shape[:-1])
    indices = getattr(sample, "indices", None)
    if indices is not None and tuple(indices.shape) != (*leading, k):
        raise _fail(check, f"indices has shape {tuple(indices.shape)}; expected {(*leading, k)}")
    log_prob = getattr(sample, "log_prob", None)
    if log_prob is not None and tuple(log_prob.shape) != leading:
        raise _fail(check, f"log_prob has shape {tuple(log_prob.shape)}; expected {leading}")


def _upstream(n: int, dtype, device, seed: int) -> nn.Linear:
    """A linear layer producing the logits, initialised from ``seed`` (the global random
    state is left alone)."""
    layer = nn.Linear(4, n, dtype=dtype, device=device)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=torch.float64))
    return layer


def _step(subject: _Subject, estimator, logits_fn, inputs: Tensor, layer: nn.Module, generator):
    """Sample, surrogate and backward once; the sample, surrogate, loss and the gradients of
    the upstream layer's parameters."""
    logits = logits_fn(layer(inputs))
    sample = estimator.sample(logits, generator=generator)
    weights = _loss_weights(logits.shape[-1], logits.dtype, logits.device)
    loss = _loss(sample.khot, weights)
    value = estimator.surrogate(sample, loss)
    if not (isinstance(value, Tensor) and value.requires_grad):
        raise _fail(
            "gradients",
            "no gradient reached the upstream parameters: the surrogate does not depend on the "
            "logits (is khot detached?)",
        )
    layer.zero_grad()
    value.backward()
    grads = [p.grad.detach().clone() if p.grad is not None else None for p in layer.parameters()]
    return sample, value, loss, grads


def _check_gradients(check: str, grads, what: str, *, require_nonzero: bool) -> None:
    if any(g is None for g in grads):
        raise _fail(check, f"no gradient reached the upstream parameters ({what}); is khot detached?")
    if not all(torch.isfinite(g).all() for g in grads):
        raise _fail(check, f"the gradient of the upstream parameters is not finite ({what})")
    if require_nonzero and all(float(g.abs().max()) == 0.0 for g in grads):
        raise _fail(check, f"the gradient of the upstream parameters is zero ({what})")


def _devices() -> list[torch.device]:
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    return devices


def _per_device_checks(subject: _Subject, device: torch.device, dtype: torch.dtype) -> None:
    k, n = subject.k, max(subject.k + 3, 6)
    tolerance = 1e-5 if dtype == torch.float32 else 1e-10
    for m, shape in itertools.product(subject.sample_counts(), [(n,), (3, n), (2, 3, n)]):
        estimator = subject.build(num_samples=m).to(device)
        logits = torch.randn(shape, generator=_generator(device, 0), dtype=dtype, device=device)
        with _running("shapes", f"logits {shape}, num_samples {m}, {dtype} on {device}"):
            sample = estimator.sample(logits, generator=_generator(device, 1))
        _check_sample("shapes", estimator, sample, logits, k)

    inputs = torch.randn(3, 4, generator=_generator(device, 2), dtype=dtype, device=device)
    label = f"{dtype} on {device}"

    estimator = subject.build().to(device)
    layer = _upstream(n, dtype, device, 3)
    with _running("gradients", label):
        sample, value, loss, grads = _step(
            subject, estimator, lambda x: x, inputs, layer, _generator(device, 4)
        )
    if value.dim() != 0:
        raise _fail("surrogate_value", f"surrogate() must return a scalar, got shape {tuple(value.shape)}")
    mean = loss.detach().mean()
    if not torch.isclose(value.detach(), mean, rtol=tolerance, atol=tolerance):
        raise _fail(
            "surrogate_value",
            f"surrogate value {float(value.detach()):.6g} is not the mean loss {float(mean):.6g} ({label})",
        )
    _check_gradients("gradients", grads, label, require_nonzero=True)

    cases = {
        "extreme_logits": lambda x: 50.0 * x / x.detach().abs().amax(-1, keepdim=True),
        "ties": lambda x: 0.0 * x + torch.tensor(0.25, dtype=dtype, device=device),
    }
    for check, logits_fn in cases.items():
        with _running(check, label):
            _, _, _, grads = _step(
                subject, subject.build().to(device), logits_fn, inputs, layer, _generator(device, 5)
            )
        _check_gradients(check, grads, label, require_nonzero=False)

    masked = torch.zeros(3, n, dtype=torch.bool, device=device)
    masked[:, : n - k] = torch.rand(3, n - k, generator=_generator(device, 6), device=device) < 0.7
    masked[0, : n - k] = True  # one row with exactly k items left

    def with_mask(x):
        return x.masked_fill(masked, float("-inf"))

    with _running("masks", label):
        sample, _, _, grads = _step(
            subject, subject.build().to(device), with_mask, inputs, layer, _generator(device, 7)
        )
    _check_gradients("masks", grads, label, require_nonzero=False)
    mass = sample.khot.detach()[..., masked]
    if mass.numel() and float(mass.abs().max()) > 1e-6:
        raise _fail(
            "masks", f"items masked with -inf get khot mass up to {float(mass.abs().max()):.3g} ({label})"
        )

    first, second = subject.build().to(device), subject.build().to(device)
    with _running("determinism", label):
        one = _step(subject, first, lambda x: x, inputs, layer, _generator(device, 8))
        two = _step(subject, second, lambda x: x, inputs, layer, _generator(device, 8))
    if not torch.equal(one[0].khot, two[0].khot) or not all(
        torch.equal(a, b) for a, b in zip(one[3], two[3])
    ):
        raise _fail("determinism", f"the same generator seed gave different samples or gradients ({label})")

    trained = subject.build().to(device)
    with _running("state_dict", label):
        _step(subject, trained, lambda x: x, inputs, layer, _generator(device, 9))
    restored = subject.build().to(device)
    try:
        restored.load_state_dict(trained.state_dict())
    except Exception as err:
        raise _fail(
            "state_dict", f"load_state_dict(state_dict()) raised {type(err).__name__}: {err}"
        ) from err
    with _running("state_dict", label):
        one = _step(subject, trained, lambda x: x, inputs, layer, _generator(device, 10))
        two = _step(subject, restored, lambda x: x, inputs, layer, _generator(device, 10))
    if not torch.equal(one[1], two[1]) or not all(torch.equal(a, b) for a, b in zip(one[3], two[3])):
        raise _fail("state_dict", f"a copy restored from state_dict() continues differently ({label})")


def _family_check(subject: _Subject, report: EstimatorReport, draws: int) -> None:
    target = getattr(subject.cls, "target", None)
    if target not in _FAMILIES:
        raise _fail("target_family", f"target {target!r} is not one of {', '.join(map(repr, _FAMILIES))}")
    logits = torch.tensor(_SMALL_LOGITS, dtype=torch.float64)
    n, k = logits.shape[-1], _SMALL_K
    subsets, probs = _FAMILIES[target](logits, k)
    estimator = subject.build(k=k)
    with torch.no_grad(), _running("target_family", f"n={n}, k={k}, float64 on cpu"):
        sample = estimator.sample(logits.expand(draws, n), generator=_generator(torch.device("cpu"), 11))
    chosen = sample.indices if sample.indices is not None else sample.khot.topk(k, dim=-1).indices
    chosen = chosen.reshape(-1, k).sort(-1).values
    index = {s: i for i, s in enumerate(subsets)}
    counts = torch.zeros(len(subsets), dtype=torch.float64)
    for row in map(tuple, chosen.tolist()):
        counts[index[row]] += 1
    total = float(counts.sum())
    expected = probs * total
    statistic = float(((counts - expected) ** 2 / expected).sum())
    report.family_p_value = chi2_sf(statistic, len(subsets) - 1)
    report.family_tv = float(0.5 * (counts / total - probs).abs().sum())
    if report.family_p_value < SIGNIFICANCE and not getattr(subject.cls, "approximate_target", False):
        raise _fail(
            "target_family",
            f"{int(total)} drawn subsets do not follow the declared family {target!r}: chi-square "
            f"{statistic:.1f} on {len(subsets) - 1} degrees of freedom, p = {report.family_p_value:.2g}, "
            f"total-variation distance {report.family_tv:.3f} (set approximate_target = True if the "
            f"forward pass only approximates the family)",
        )


def _gradient_checks(subject: _Subject, report: EstimatorReport, estimates: int) -> None:
    target = subject.cls.target
    w = torch.tensor(_SMALL_LOGITS, dtype=torch.float64)
    n, k = w.shape[-1], _SMALL_K
    weights = _loss_weights(n, torch.float64, w.device)
    exact_w = w.clone().requires_grad_(True)
    subsets, probs = _FAMILIES[target](exact_w, k)
    khots = torch.zeros(len(subsets), n, dtype=torch.float64)
    for c, s in enumerate(subsets):
        khots[c, list(s)] = 1.0
    (exact,) = torch.autograd.grad((probs * _loss(khots, weights)).sum(), exact_w)

    estimator = subject.build(k=k)
    rows = w.expand(estimates, n).clone().requires_grad_(True)
    with _running("gradients", f"n={n}, k={k}, float64 on cpu"):
        sample = estimator.sample(rows, generator=_generator(torch.device("cpu"), 12))
        value = estimator.surrogate(sample, _loss(sample.khot, weights))
    if not value.requires_grad:
        raise _fail("gradients", "the surrogate does not depend on the logits on the small problem")
    with _running("gradients", f"n={n}, k={k}, float64 on cpu"):
        value.backward()
    single = rows.grad * estimates  # row i holds the i-th single-sample estimate
    if not torch.isfinite(single).all():
        raise _fail("gradients", "gradient estimates on the small problem are not finite")
    mean = single.mean(0)
    error = mean - exact
    standard_error = single.std(0) / math.sqrt(estimates)
    report.cosine = float(torch.nn.functional.cosine_similarity(mean, exact, dim=0))
    report.bias = float(error.norm() / exact.norm())
    # The estimates of one row sum to zero when every item's gradient is a logit shift
    # (softmax-like families); coordinates with no spread carry no test information.
    informative = standard_error > 1e-12
    z = error[informative] / standard_error[informative]
    exact_mismatch = (~informative) & (error.abs() > 1e-9 * exact.abs().max())
    report.bias_p_value = (
        0.0 if exact_mismatch.any() else chi2_sf(float((z**2).sum()), int(informative.sum()))
    )
    if not report.cosine > 0:
        raise _fail(
            "gradient_direction",
            f"the mean of {estimates} gradient estimates points away from the exact gradient of the "
            f"expected loss under {target!r} (cosine {report.cosine:.3f}); is the sign of the "
            f"surrogate's gradient flipped?",
        )
    if not subject.cls.biased and report.bias_p_value < SIGNIFICANCE:
        raise _fail(
            "unbiasedness",
            f"declared unbiased, but the mean of {estimates} single-sample gradient estimates "
            f"differs from the exact gradient of {target!r} by {report.bias:.3f} (relative), "
            f"p = {report.bias_p_value:.2g} under unbiasedness; largest standardised error "
            f"{float(z.abs().max()) if z.numel() else math.inf:.1f}. Declare biased = True if it is",
        )


def check_estimator(
    estimator,
    *,
    k: int | None = None,
    options: dict | None = None,
    draws: int = 4000,
    estimates: int = 4000,
) -> EstimatorReport:
    """Run every conformance check on an estimator class or instance; raise
    :class:`EstimatorCheckError` at the first that fails, else return an
    :class:`EstimatorReport` of what was measured.

    ``estimator``: a class (built as ``cls(k, **options)``, ``k = 2`` unless given) or an
    instance (deep-copied for each check, with its own ``k`` and ``num_samples``). The
    statistical checks set ``k = 2`` on their copies. ``draws``: subsets drawn for the family
    test; ``estimates``: single-sample gradient estimates for the bias test (both on the
    small problem n = 5, k = 2, on CPU in float64).
    """
    subject = _Subject(estimator, k, options or {})
    report = EstimatorReport(name=subject.name)
    if not isinstance(subject.build(), (Estimator, nn.Module)):
        raise _fail("construct", f"{subject.name} does not build a torch.nn.Module")
    report.checks.append("construct")
    for device in _devices():
        for dtype in (torch.float32, torch.float64):
            _per_device_checks(subject, device, dtype)
        report.devices.append(str(device))
    report.checks += [
        "shapes",
        "surrogate_value",
        "gradients",
        "extreme_logits",
        "ties",
        "masks",
        "determinism",
        "state_dict",
    ]
    _family_check(subject, report, draws)
    report.checks.append("target_family")
    _gradient_checks(subject, report, estimates)
    report.checks += ["gradient_direction", "unbiasedness" if not subject.cls.biased else "bias_measured"]
    return report


__all__ = ["SIGNIFICANCE", "EstimatorCheckError", "EstimatorReport", "chi2_sf", "check_estimator"]

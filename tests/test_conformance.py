"""The conformance kit: every builtin estimator passes it, and estimators broken in one way
each fail it with a message naming the check that caught them."""

import importlib.util
import math
import re

import pytest
import torch
from conftest import REPO

from subsetgrad import SubsetSample, estimator_class
from subsetgrad.estimators import Reinforce, RelaxedSubset, StraightThrough
from subsetgrad.plugins import builtin_estimators
from subsetgrad.testing import SIGNIFICANCE, EstimatorCheckError, check_estimator, chi2_sf


@pytest.mark.parametrize("name", builtin_estimators())
def test_every_builtin_estimator_passes(name):
    report = check_estimator(estimator_class(name))
    assert "target_family" in report.checks and report.devices[0] == "cpu"
    assert 0.0 <= report.family_tv <= 1.0 and report.cosine > 0
    if not estimator_class(name).biased:
        assert report.bias_p_value >= SIGNIFICANCE
    else:  # every builtin's bias on the small problem is large enough to be measured
        assert report.bias_p_value < SIGNIFICANCE and report.bias > 0


def test_an_instance_is_checked_with_its_own_options():
    report = check_estimator(RelaxedSubset(2, tau=0.5, num_samples=3))
    assert report.name == "relaxed" and report.bias > 0


def test_the_example_plugin_estimator_passes():
    spec = importlib.util.spec_from_file_location(
        "my_estimator", REPO / "examples/my_estimator/my_estimator.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report = check_estimator(module.SigmoidStraightThrough)
    assert report.family_p_value >= SIGNIFICANCE and report.cosine > 0


def test_chi_square_tail_matches_known_values():
    # chi-square(2) has survival function exp(-x/2); chi-square(1) at 3.841 is 0.05
    assert chi2_sf(3.0, 2) == pytest.approx(math.exp(-1.5), rel=1e-12)
    assert chi2_sf(3.841458820694124, 1) == pytest.approx(0.05, rel=1e-9)


# --- broken estimators: each must fail the named check -------------------------------------------
class FlippedSign(StraightThrough):
    """The surrogate's value is right, its gradient points the wrong way."""

    def surrogate(self, sample, loss):
        mean = loss.mean()
        return 2 * mean.detach() - mean


class FlippedSignReinforce(Reinforce):
    def surrogate(self, sample, loss):
        value = super().surrogate(sample, loss)
        return 2 * value.detach() - value


class SumNotMean(StraightThrough):
    def surrogate(self, sample, loss):
        return loss.sum()


class FalselyUnbiased(RelaxedSubset):
    biased = False


class WrongFamily(StraightThrough):
    """PL-WOR samples declared as conditional-Bernoulli ones."""

    target = "cb"


class Detached(StraightThrough):
    def sample(self, logits, generator=None):
        return SubsetSample(khot=super().sample(logits, generator).khot.detach())


class MassOnMasked(RelaxedSubset):
    def sample(self, logits, generator=None):
        khot = super().sample(logits, generator).khot
        return SubsetSample(khot=0.9 * khot + 0.1 * self.k / khot.shape[-1])


class DropsSampleDimension(StraightThrough):
    def sample(self, logits, generator=None):
        khot = super().sample(logits, generator).khot
        return SubsetSample(khot=khot[0] if self.num_samples > 1 else khot)


class IgnoresGenerator(StraightThrough):
    def sample(self, logits, generator=None):
        return super().sample(logits, generator=None)


class BaselineNotInState(Reinforce):
    """The moving-average baseline kept as a plain attribute: lost by state_dict."""

    def __init__(self, k, num_samples=1, baseline_decay=0.9):
        super().__init__(k, num_samples, baseline_decay)
        self.plain = 0.0

    def surrogate(self, sample, loss):
        out = (loss + (loss - self.plain).detach() * (sample.log_prob - sample.log_prob.detach())).mean()
        self.plain = float(loss.detach().mean())
        return out


class CrashesOnMasks(StraightThrough):
    def sample(self, logits, generator=None):
        if torch.isneginf(logits).any():
            raise ValueError("cannot handle -inf")
        return super().sample(logits, generator)


class Float32Only(StraightThrough):
    def sample(self, logits, generator=None):
        sample = super().sample(logits, generator)
        return SubsetSample(khot=sample.khot.float())


BROKEN = [
    (FlippedSign, "gradient_direction", "points away from the exact gradient"),
    (FlippedSignReinforce, "gradient_direction", "is the sign of the surrogate's gradient flipped?"),
    (SumNotMean, "surrogate_value", "is not the mean loss"),
    (FalselyUnbiased, "unbiasedness", "declared unbiased, but"),
    (WrongFamily, "target_family", "do not follow the declared family 'cb'"),
    (Detached, "gradients", "no gradient reached the upstream parameters"),
    (MassOnMasked, "masks", "items masked with -inf get khot mass"),
    (DropsSampleDimension, "shapes", "num_samples=3"),
    (IgnoresGenerator, "determinism", "the same generator seed gave different"),
    (BaselineNotInState, "state_dict", "continues differently"),
    (Float32Only, "shapes", "it must follow the logits"),
    (CrashesOnMasks, "masks", "the estimator raised ValueError: cannot handle -inf"),
]


@pytest.mark.parametrize(("cls", "check", "why"), BROKEN, ids=[b[0].__name__ for b in BROKEN])
def test_a_broken_estimator_fails_the_check_that_catches_it(cls, check, why):
    with pytest.raises(EstimatorCheckError, match=rf"^check '{check}' failed: .*{re.escape(why)}") as info:
        check_estimator(cls)
    assert info.value.check == check


def test_not_an_estimator_is_refused():
    with pytest.raises(EstimatorCheckError, match="check 'construct' failed: expected an estimator class"):
        check_estimator("relaxed")

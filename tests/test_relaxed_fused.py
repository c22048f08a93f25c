"""The fused relaxed top-k equals the textbook autograd loop (values, gradients, second order).

The textbook loop below is the reference: paper Algorithm 2 exactly as the
library implemented it before the fused autograd function, recorded by autograd
op by op. It lives here (and in benchmarks/bench_relaxed_topk.py), not in the
library.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import textbook_relaxed_steps, textbook_relaxed_topk
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.autograd import gradcheck, gradgradcheck

from subsetgrad import relaxed_topk, relaxed_topk_sequence, topk_khot

REPO = Path(__file__).resolve().parents[1]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def textbook_steps(scores, k, tau):
    return torch.stack(textbook_relaxed_steps(scores, k, tau), dim=-2)


textbook = textbook_relaxed_topk


def fused(scores, k, tau, mode, recompute):
    if mode == "sequence":
        return relaxed_topk_sequence(scores, k, tau, recompute=recompute)
    return relaxed_topk(scores, k, tau, hard=(mode == "hard"), recompute=recompute)


def tolerances(dtype):
    return (1e-10, 1e-10) if dtype == torch.float64 else (1e-5, 1e-6)


def assert_matches_textbook(scores, k, tau, mode, recompute, seed=0):
    """Values and gradients (for a random cotangent) of fused == textbook."""
    scores = scores.detach().requires_grad_()
    out = fused(scores, k, tau, mode, recompute)
    ref = textbook(scores, k, tau, mode)
    assert out.shape == ref.shape
    rtol, atol = tolerances(scores.dtype)
    if mode == "hard":
        # the fused op returns the exact k-hot; the textbook's hard - soft + soft
        # is within an ulp of it
        assert torch.equal(out.detach(), topk_khot(scores, k))
    torch.testing.assert_close(out, ref, rtol=rtol, atol=atol)
    gen = torch.Generator().manual_seed(seed)
    cotangent = torch.randn(out.shape, generator=gen, dtype=out.dtype).to(out.device)
    (grad,) = torch.autograd.grad(out, scores, cotangent)
    (grad_ref,) = torch.autograd.grad(ref, scores, cotangent)
    assert torch.isfinite(grad).all()
    scale = max(1.0, float(grad_ref.abs().max()))
    torch.testing.assert_close(grad, grad_ref, rtol=rtol, atol=atol * scale)
    return out, grad


MODES = ["soft", "hard", "sequence"]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("recompute", [False, True])
@pytest.mark.parametrize("tau", [1e-3, 0.1, 1.0, 100.0])
def test_values_and_gradients_equal_textbook(device, dtype, mode, recompute, tau):
    gen = torch.Generator().manual_seed(1)
    scores = (3 * torch.randn(2, 3, 17, generator=gen, dtype=dtype)).to(device)
    assert_matches_textbook(scores, 5, tau, mode, recompute)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("tau", [1e-3, 1.0, 100.0])
def test_masked_items_get_exactly_zero_and_finite_gradients(device, dtype, mode, tau):
    gen = torch.Generator().manual_seed(2)
    scores = torch.randn(4, 12, generator=gen, dtype=dtype)
    mask = torch.zeros(4, 12, dtype=torch.bool)
    mask[0, [1, 5, 7]] = True
    mask[1, :8] = True  # n - k items masked: the maximum allowed
    mask[3, -1] = True
    scores = scores.masked_fill(mask, float("-inf")).to(device)
    out, grad = assert_matches_textbook(scores, 4, tau, mode, recompute=False)
    per_item = out if mode != "sequence" else out.sum(-2)
    assert (per_item.detach()[mask.to(device)] == 0).all()
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("tau", [1e-3, 1e-1, 1e2])
def test_extreme_logits(dtype, mode, tau):
    gen = torch.Generator().manual_seed(3)
    scores = (torch.rand(6, 30, generator=gen, dtype=dtype) * 2 - 1) * 1e4
    scores[0, :4] = 1e4  # exact ties at the top
    scores[1, :] = -1e4  # a constant row
    scores[2, 10:] = float("-inf")
    assert_matches_textbook(scores, 7, tau, mode, recompute=False)
    assert_matches_textbook(scores, 7, tau, mode, recompute=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_saturated_steps_take_the_clamped_branch(dtype):
    """a_j == 1 exactly (clamp active): the gradient through log(tiny) is zero, never NaN."""
    scores = torch.tensor([[50.0, 0.0, -1.0, -2.0], [3.0, 2.0, 1.0, 0.0]], dtype=dtype)
    steps = relaxed_topk_sequence(scores, 3, 1e-2)
    assert (steps[0, :2] == 1).any()  # the clamp is active in this problem
    for mode in MODES:
        for recompute in (False, True):
            assert_matches_textbook(scores, 3, 1e-2, mode, recompute)
    # a_1 == 1 with no item at exactly 0, and the clamped item still on top at step 2
    # (200 + log(tiny) > 100): a missed clamp (log 0 = -inf) would move step 2's mass
    scores = torch.tensor([[200.0, 100.0, 100.0, 100.0]], dtype=dtype)
    first = relaxed_topk_sequence(scores, 2, 5.0)[0, 0]
    if dtype == torch.float32:
        assert first[0] == 1 and (first[1:] > 0).all()
    for mode in MODES:
        for recompute in (False, True):
            assert_matches_textbook(scores, 2, 5.0, mode, recompute)


def test_saturation_recorded_per_step_across_row_blocks(monkeypatch):
    """The forward records which steps reached a_j == 1 in any block of rows; the backward
    takes the clamped form for those steps only, in every block, and still matches."""
    import subsetgrad._relaxed_kernels as kernels

    scores = torch.zeros(5, 4, dtype=torch.float64)
    scores[:, 0] = torch.arange(5, dtype=torch.float64) * 1e-3
    scores[3] = torch.tensor([50.0, 0.0, -0.01, -0.02])  # a_1 == 1 in this row only, a_2 < 1
    monkeypatch.setattr(kernels, "BLOCK_ELEMENTS", 8)  # 2 rows per block: 2 + 2 + 1
    steps, _, saturated = kernels.forward_steps(scores, 3, 1e-2, keep_steps=True)
    # one flag per step whose output is clamped by a later step (all but the last)
    assert saturated == [bool((a == 1).any()) for a in steps[:-1]] == [True, False]
    for mode in MODES:
        for recompute in (False, True):
            assert_matches_textbook(scores, 3, 1e-2, mode, recompute)


def test_backward_without_saturation_flags_takes_the_masked_form_in_every_step():
    """Steps whose saturation was not checked (``saturated=None``: the forward on an
    accelerator) get the masked backward in every step, saturated (a_1 == 1 in one row) or
    not: the textbook loop's gradient, as with the flags."""
    import subsetgrad._relaxed_kernels as kernels

    scores = torch.zeros(5, 4, dtype=torch.float64)
    scores[:, 0] = torch.arange(5, dtype=torch.float64) * 1e-3
    scores[3] = torch.tensor([50.0, 0.0, -0.01, -0.02])  # a_1 == 1 in this row only, a_2 < 1
    k, tau = 3, 1e-2
    steps, _, saturated = kernels.forward_steps(scores, k, tau, keep_steps=True)
    assert saturated == [True, False]
    gen = torch.Generator().manual_seed(4)
    grad_steps = [torch.randn(scores.shape, generator=gen, dtype=scores.dtype) for _ in range(k)]
    grad_sum = torch.randn(scores.shape, generator=gen, dtype=scores.dtype)
    x = scores.clone().requires_grad_()
    reference = textbook_relaxed_steps(x, k, tau)
    outputs = [*reference, sum(reference)]
    (expected,) = torch.autograd.grad(outputs, x, [*grad_steps, grad_sum])
    with torch.no_grad():
        unflagged = kernels.backward_steps(steps, grad_steps, grad_sum, tau)
        flagged = kernels.backward_steps(steps, grad_steps, grad_sum, tau, saturated)
    torch.testing.assert_close(unflagged, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(flagged, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_first_step_is_the_textbook_softmax_bit_for_bit(dtype):
    """Step 1 is softmax(s / tau) with no logarithm before it: the same rounding as the textbook
    in every dtype, including half precision, where ATen divides by the unrounded Python number
    (a 0-d tensor of the dtype would round tau first)."""
    scores = (3 * torch.randn(4, 50, generator=torch.Generator().manual_seed(8))).to(dtype)
    for tau in (0.3, 0.7, 2.0):
        first = relaxed_topk_sequence(scores, 3, tau)[..., 0, :]
        assert torch.equal(first, torch.softmax(scores / tau, dim=-1))


@pytest.mark.parametrize("tau, margin", [(0.1, 0.97), (1.0, 0.97), (10.0, 1.02)])
def test_forward_steps_are_at_least_as_accurate_as_textbook(tau, margin):
    """log1p(-a) in place of log(1 - a): float32 steps closer to a float64 evaluation of the
    same scores than the textbook loop's float32 steps are where the log term matters
    (tau <= 1: 5-13% smaller mean relative error measured), and no further at tau = 10."""
    scores = torch.randn(20, 1000, generator=torch.Generator().manual_seed(0))
    exact = textbook_steps(scores.double(), 10, tau)

    def error(steps):
        return float(((steps.double() - exact).abs() / exact.clamp_min(1e-30)).mean())

    fused_error = error(relaxed_topk_sequence(scores, 10, tau))
    textbook_error = error(textbook_steps(scores, 10, tau))
    assert fused_error < margin * textbook_error, (fused_error, textbook_error)


def test_row_blocks_give_the_same_results(monkeypatch):
    """Rows are processed in cache-sized blocks; tiny blocks (uneven last one) change nothing."""
    import subsetgrad._relaxed_kernels as kernels

    gen = torch.Generator().manual_seed(9)
    scores = torch.randn(7, 40, generator=gen, dtype=torch.float32)
    scores[2, :5] = float("-inf")
    whole = {mode: relaxed_topk_sequence(scores, 4, 0.2) for mode in MODES}
    monkeypatch.setattr(kernels, "BLOCK_ELEMENTS", 90)  # 2 rows per block: 2 + 2 + 2 + 1
    assert len(kernels._row_blocks(7, 40)) == 4
    assert torch.equal(relaxed_topk_sequence(scores, 4, 0.2), whole["sequence"])
    for mode in MODES:
        for recompute in (False, True):
            assert_matches_textbook(scores, 4, 0.2, mode, recompute)


@pytest.mark.parametrize("shape", [(9,), (1, 9), (2, 3, 4, 9)])
def test_any_leading_dims_and_non_contiguous_input(shape):
    gen = torch.Generator().manual_seed(5)
    scores = torch.randn(*shape, generator=gen, dtype=torch.float64)
    for mode in MODES:
        assert_matches_textbook(scores, 3, 0.7, mode, recompute=False)
    wide = torch.randn(9, 4, generator=gen, dtype=torch.float64).t()  # non-contiguous rows
    assert_matches_textbook(wide, 3, 0.7, "soft", recompute=False)
    assert_matches_textbook(wide, 3, 0.7, "sequence", recompute=True)


def test_k_equals_one_and_k_equals_n():
    gen = torch.Generator().manual_seed(6)
    scores = torch.randn(3, 6, generator=gen, dtype=torch.float64)
    for k in (1, 6):
        for mode in MODES:
            assert_matches_textbook(scores, k, 0.5, mode, recompute=False)


def test_saves_only_the_steps_or_only_the_input():
    scores = torch.randn(4, 50, dtype=torch.float64, requires_grad=True)
    saved = []

    def pack(t):
        saved.append(t.numel())
        return t

    for recompute, expected in ((False, 7 * 4 * 50), (True, 4 * 50)):
        saved.clear()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            relaxed_topk(scores, 7, 0.5, recompute=recompute)
        assert sum(saved) == expected, (recompute, saved)


@pytest.mark.parametrize("recompute", [False, True])
def test_gradcheck_and_gradgradcheck_float64(recompute):
    gen = torch.Generator().manual_seed(7)
    s = torch.randn(2, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    masked = s.detach().clone()
    masked[0, 2] = float("-inf")
    masked.requires_grad_()
    for x in (s, masked):
        assert gradcheck(lambda v: relaxed_topk(v, 3, 0.7, recompute=recompute), (x,))
        assert gradcheck(lambda v: relaxed_topk_sequence(v, 3, 1.3, recompute=recompute), (x,))
    # second order (finite differences of the first-order backward; fast mode: random projections)
    assert gradgradcheck(lambda v: relaxed_topk(v, 3, 0.7, recompute=recompute), (masked,), fast_mode=True)
    assert gradgradcheck(
        lambda v: relaxed_topk_sequence(v, 2, 1.3, recompute=recompute), (s,), fast_mode=True
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("recompute", [False, True])
def test_double_backward_equals_textbook(mode, recompute):
    """Hessian-vector products through the fused op equal those through the textbook loop."""
    gen = torch.Generator().manual_seed(8)
    scores = torch.randn(2, 8, generator=gen, dtype=torch.float64, requires_grad=True)
    cotangent = torch.randn(textbook(scores, 3, 0.4, mode).shape, generator=gen, dtype=torch.float64)
    direction = torch.randn(2, 8, generator=gen, dtype=torch.float64)

    def hvp(fn):
        (g,) = torch.autograd.grad((fn(scores) * cotangent).sum(), scores, create_graph=True)
        (h,) = torch.autograd.grad((g * direction).sum(), scores)
        return h

    got = hvp(lambda x: fused(x, 3, 0.4, mode, recompute))
    want = hvp(lambda x: textbook(x, 3, 0.4, mode))
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_no_gradient_needed_and_input_untouched():
    scores = torch.randn(3, 10, dtype=torch.float64)
    before = scores.clone()
    out = relaxed_topk(scores, 4, 0.5)
    assert not out.requires_grad
    assert torch.equal(scores, before)
    with torch.no_grad():
        assert torch.equal(relaxed_topk(scores, 4, 0.5, recompute=True), out)


@pytest.mark.parametrize(
    "bad, k, message",
    [
        (torch.tensor([[1.0, float("nan"), 2.0]]), 2, "contains NaN"),
        (torch.tensor([[1.0, float("inf"), 2.0]]), 2, r"contains \+inf"),
        (torch.tensor([[1.0, 2.0, 3.0], [1.0, float("-inf"), float("-inf")]]), 2, "only 1 finite"),
        (torch.tensor([[1, 2, 3]]), 2, "floating-point"),
        (torch.tensor(1.0), 1, "at least one dimension"),
        (torch.tensor([[1.0, 2.0]]), 3, "larger than the number of items"),
    ],
)
@pytest.mark.parametrize("sequence", [False, True])
def test_bad_scores_raise_clear_errors(bad, k, message, sequence):
    """The fast validation path raises the same messages as check_logits."""
    with pytest.raises(ValueError, match=message):
        if sequence:
            relaxed_topk_sequence(bad, k, 1.0)
        else:
            relaxed_topk(bad, k, 1.0)


def test_empty_batch():
    scores = torch.empty(0, 5, requires_grad=True)
    out = relaxed_topk(scores, 2, 1.0)
    assert out.shape == (0, 5)
    out.sum().backward()
    assert scores.grad.shape == (0, 5)


@st.composite
def _problems(draw):
    n = draw(st.integers(1, 12))
    k = draw(st.integers(1, n))
    values = draw(st.lists(st.floats(-1e4, 1e4), min_size=n, max_size=n))
    if draw(st.booleans()):  # ties
        values = [round(v / 1e3) * 1e3 for v in values]
    masked = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    allowed = n - k
    mask = [m and i < allowed for i, m in enumerate(masked)]
    tau = draw(st.floats(1e-3, 1e2))
    return values, mask, k, tau


@settings(max_examples=100, deadline=None, derandomize=True)  # the same examples on every run
@given(_problems(), st.sampled_from([torch.float32, torch.float64]), st.sampled_from(MODES), st.booleans())
def test_property_finite_and_equal_to_textbook_values(problem, dtype, mode, recompute):
    values, mask, k, tau = problem
    mask_t = torch.tensor(mask)
    s = torch.tensor(values, dtype=dtype).masked_fill(mask_t, float("-inf")).requires_grad_()
    out = fused(s, k, tau, mode, recompute)
    assert torch.isfinite(out).all()
    per_item = out if mode != "sequence" else out.sum(-2)
    assert (per_item[mask_t] == 0).all()
    ref = textbook(s, k, tau, mode).detach()
    # log1p(-a) in place of log(1 - a), the sum accumulated in another order, hard - soft + soft
    # within an ulp of the k-hot: equal to rounding
    rtol, atol = tolerances(dtype)
    torch.testing.assert_close(out.detach(), ref, rtol=rtol, atol=atol)
    weights = torch.linspace(-1, 1, out.numel(), dtype=dtype).reshape(out.shape)
    (grad,) = torch.autograd.grad((out * weights).sum(), s)
    assert torch.isfinite(grad).all()


def test_benchmark_quick_mode_runs():
    """Smoke run of benchmarks/bench_relaxed_topk.py --quick (a few seconds; no timing checked)."""
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_relaxed_topk.py"), "--quick", "--devices", "cpu"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = [line for line in result.stdout.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 2 * 2  # header, rule, 2 sizes x 2 dtypes
    assert "a/b time" in table[0] and "a/b bytes" in table[0]
    assert "cpu n >= 1000: a/b time worst" in result.stdout


def test_benchmark_gpu_mode_table_on_a_cpu_device():
    """The GPU mode's table and target lines, run on the CPU device (no CUDA needed; no timing checked)."""
    script = str(REPO / "benchmarks" / "bench_relaxed_topk.py")
    args = ["--gpu", "--gpu-device", "cpu", "--sizes", "300:3,10000:100", "--batch", "2", "--quick"]
    result = subprocess.run(
        [sys.executable, script, *args, "--peak-bandwidth", "100"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = [line for line in result.stdout.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 2  # header, rule, 2 sizes
    assert "a GB/s" in table[0] and "a % of peak" in table[0]
    assert "gpu n=10^4 k=100: b/a speed-up" in result.stdout
    assert "gpu n >= 10^5" not in result.stdout  # no such row here

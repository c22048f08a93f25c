"""The Triton kernels of the relaxed top-k equal the textbook autograd loop.

Without a GPU the kernels run under Triton's interpreter (``TRITON_INTERPRET=1``,
set by conftest.py before Triton is imported) on CPU tensors; with one they run
compiled, on CUDA tensors. ``make test`` installs Triton (the ``gpu`` extra).

The grid covers the corners of the algorithm at the interpreter's pace: both
dtypes; k from 1 to 64; n from 1 to 3000; rows that fit on chip and rows swept
in tiles (forced on short rows by lowering the on-chip limit and the tile
width, and a row of several tiles with a ragged last one); ``-inf`` masks up to
n - k per row; tied scores; tau from 1e-3 to 1e2; the relaxed k-hot, the
straight-through k-hot and the per-step sequence; saved steps and recompute.
"""

import platform
import sys

import pytest
import torch
from conftest import textbook_relaxed_topk

from subsetgrad import topk_khot

TRITON_PLATFORM = sys.platform == "linux" and platform.machine() in ("x86_64", "AMD64")

try:
    import triton  # noqa: F401
except ImportError as err:
    if TRITON_PLATFORM:  # the test environment installs Triton here: a missing one is a broken set-up
        raise ImportError(
            "the Triton kernels' tests need Triton: `make test` installs it, or `pip install -e '.[gpu]'`"
        ) from err
    pytest.skip("Triton is not available on this platform", allow_module_level=True)

from subsetgrad import _relaxed_triton as kernels

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


textbook = textbook_relaxed_topk


def make_scores(dtype, rows, n, k, seed, masked, tied, spread=1.0):
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(rows, n, generator=gen, dtype=torch.float64) * spread
    if tied and n >= 4:
        scores[:, 1] = scores[:, 0]  # an exact tie
        scores[0, 2:4] = scores[0, 0]  # three-way in row 0
    if masked and n > k:
        scores[0, : n - k] = float("-inf")  # as many -inf as allowed: n - k
        scores[-1, torch.randperm(n, generator=gen)[: (n - k) // 2]] = float("-inf")
    return scores.to(dtype=dtype, device=DEVICE)


def tolerances(dtype):
    if dtype == torch.float64:
        return (1e-10, 1e-10)
    # compiled for a GPU, Triton's float32 exp and log are the hardware's approximate
    # instructions (a few ulp, against torch's correctly rounded-to-1-ulp ones)
    return (1e-4, 1e-5) if DEVICE == "cuda" else (1e-5, 1e-6)


def assert_kernels_match(scores, k, tau, mode, recompute, on_chip_limit=None, tile=None, seed=0):
    x = scores.detach().clone().requires_grad_()
    out = kernels.relaxed_topk_rows(
        x, k, tau, mode == "hard", mode == "sequence", recompute, on_chip_limit, tile
    )
    x_ref = scores.detach().clone().requires_grad_()
    ref = textbook(x_ref, k, tau, mode)
    assert out.shape == ref.shape and out.dtype == ref.dtype
    rtol, atol = tolerances(scores.dtype)
    if mode == "hard":
        assert torch.equal(out.detach(), topk_khot(scores, k))
    torch.testing.assert_close(out, ref, rtol=rtol, atol=atol)
    gen = torch.Generator().manual_seed(seed)
    cotangent = torch.randn(out.shape, generator=gen, dtype=torch.float64).to(out.dtype).to(DEVICE)
    (grad,) = torch.autograd.grad(out, x, cotangent)
    (grad_ref,) = torch.autograd.grad(ref, x_ref, cotangent)
    assert torch.isfinite(grad).all()
    scale = max(1.0, float(grad_ref.abs().max()))
    torch.testing.assert_close(grad, grad_ref, rtol=rtol, atol=atol * scale)


MODES = [(mode, recompute) for mode in ("soft", "hard", "sequence") for recompute in (False, True)]
DTYPES = [torch.float32, torch.float64]


# Small rows: every output mode, saved and recomputed, on chip and in tiles.
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("mode,recompute", MODES, ids=[f"{m}-{'re' if r else 'saved'}" for m, r in MODES])
@pytest.mark.parametrize(
    "n,k,tau,tiled",
    [(1, 1, 1.0, False), (9, 3, 0.5, False), (40, 7, 0.1, True)],
    ids=["n1k1", "n9k3", "n40k7-tiled"],
)
def test_small_rows_match_the_textbook(dtype, mode, recompute, n, k, tau, tiled):
    scores = make_scores(dtype, 3, n, k, seed=n + k, masked=True, tied=True)
    limit, tile = (16, 16) if tiled else (None, None)
    assert_kernels_match(scores, k, tau, mode, recompute, limit, tile)


# Long rows, large k, the temperature's extremes (relaxed k-hot with saved steps, and the
# sequence with recompute, which together reach both kernels of each direction).
LONG = [
    # n, k, tau, on_chip_limit, tile
    (1000, 64, 1.0, None, None),  # on chip, k = 64
    (3000, 16, 100.0, 1024, 1024),  # three tiles, the last one ragged
    (1000, 64, 1e-3, None, None),  # sharp: steps saturate at 1 - a = 0
    (700, 10, 1e-3, 256, 256),  # sharp, tiled
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("mode,recompute", [("soft", False), ("sequence", True)], ids=["soft", "sequence-re"])
@pytest.mark.parametrize(
    "n,k,tau,limit,tile", LONG, ids=["n1000k64", "n3000k16-tiled", "sharp", "sharp-tiled"]
)
def test_long_rows_match_the_textbook(dtype, mode, recompute, n, k, tau, limit, tile):
    # At tau = 1e-3 with float32 a near-saturated step's 1 - a keeps few significant
    # bits, and a difference of one ulp in exp (numpy's against torch's) becomes a
    # different log term divided by 1e-3: the textbook itself is ill-conditioned
    # there. Scores spaced well apart saturate every step exactly (1 - a = 0 and the
    # clamp), the case that matters at that temperature, and stay comparable.
    spread = 100.0 if (tau < 0.01 and dtype == torch.float32) else 1.0
    scores = make_scores(dtype, 2, n, k, seed=n * k, masked=True, tied=True, spread=spread)
    assert_kernels_match(scores, k, tau, mode, recompute, limit, tile)


def test_double_backward_matches_the_textbook():
    scores = make_scores(torch.float64, 2, 12, 4, seed=1, masked=True, tied=False)
    weights = torch.randn(2, 12, generator=torch.Generator().manual_seed(2), dtype=torch.float64).to(DEVICE)
    for recompute in (False, True):
        x = scores.clone().requires_grad_()
        (g,) = torch.autograd.grad(
            (kernels.relaxed_topk_rows(x, 4, 0.7, False, False, recompute) * weights).sum(),
            x,
            create_graph=True,
        )
        (gg,) = torch.autograd.grad((g * g).sum(), x)
        y = scores.clone().requires_grad_()
        (h,) = torch.autograd.grad((textbook(y, 4, 0.7, "soft") * weights).sum(), y, create_graph=True)
        (hh,) = torch.autograd.grad((h * h).sum(), y)
        torch.testing.assert_close(g, h, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(gg, hh, rtol=1e-9, atol=1e-9)


def test_cpu_tensors_take_the_fused_pytorch_op():
    # The library dispatches to Triton only for CUDA tensors: CPU tensors keep the fused op.
    from subsetgrad import relaxed

    assert not relaxed._use_triton(torch.zeros(2, 3))


@pytest.mark.skipif(DEVICE == "cuda", reason="with a GPU the kernels run compiled")
def test_kernels_run_under_the_interpreter_without_a_gpu():
    # Triton fixes interpretation when its language module is first imported: something
    # importing Triton before conftest.py sets TRITON_INTERPRET would leave compiled kernels
    # that cannot take CPU tensors, and every test above would fail for that reason alone.
    assert type(kernels._forward_on_chip).__name__ == "InterpretedFunction", (
        "Triton was imported before TRITON_INTERPRET=1 was set (see tests/conftest.py)"
    )

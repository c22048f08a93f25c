"""The paper's relaxed top-k: values, gradients, limits, and numerical robustness."""

import torch
from torch.autograd import gradcheck

from subsetgrad import relaxed_topk, relaxed_topk_sequence, topk_khot


def test_sums_to_k_and_nonnegative():
    s = torch.randn(7, 10, dtype=torch.float64)
    out = relaxed_topk(s, 4, 0.5)
    torch.testing.assert_close(out.sum(-1), torch.full((7,), 4.0, dtype=torch.float64))
    assert (out >= 0).all()


def test_topk_of_relaxed_equals_topk_of_scores_at_moderate_tau():
    """Theorem 1 on random scores where it holds (see the module docstring for small tau)."""
    s = torch.randn(2000, 8, dtype=torch.float64)
    for tau in (1.0, 5.0, 20.0):
        relaxed = relaxed_topk(s, 3, tau)
        got = torch.sort(torch.topk(relaxed, 3).indices).values
        want = torch.sort(torch.topk(s, 3).indices).values
        assert (got == want).all()


def test_theorem1_fails_for_near_ties_at_small_tau():
    """A hand-checked counterexample: documented behaviour, not an implementation bug."""
    s = torch.tensor(
        [-0.4118, -1.1129, -0.3920, -0.4523, 1.0930, -0.1639, -0.2015, -1.8610], dtype=torch.float64
    )
    relaxed = relaxed_topk(s, 3, 0.05)
    assert set(torch.topk(s, 3).indices.tolist()) == {4, 5, 6}
    assert set(torch.topk(relaxed, 3).indices.tolist()) == {4, 5, 2}


def test_small_tau_recovers_hard_topk():
    s = torch.randn(20, 9, dtype=torch.float64)
    torch.testing.assert_close(relaxed_topk(s, 3, 1e-4), topk_khot(s, 3), atol=1e-8, rtol=0)


def test_straight_through_forward_is_exact_khot_with_relaxed_gradient():
    s = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    hard = relaxed_topk(s, 2, 0.7, hard=True)
    assert torch.equal(hard.detach(), topk_khot(s, 2))
    c = torch.randn(6, dtype=torch.float64)
    (g_hard,) = torch.autograd.grad((hard * c).sum(), s)
    (g_soft,) = torch.autograd.grad((relaxed_topk(s, 2, 0.7) * c).sum(), s)
    torch.testing.assert_close(g_hard, g_soft)


def test_gradcheck_float64():
    s = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda x: relaxed_topk(x, 2, 0.7), (s,))
    assert gradcheck(lambda x: relaxed_topk_sequence(x, 3, 1.3), (s,))


def test_sequence_steps_are_distributions_summing_to_relaxed():
    s = torch.randn(2, 3, 7, dtype=torch.float64)
    seq = relaxed_topk_sequence(s, 3, 0.4)
    assert seq.shape == (2, 3, 3, 7)
    torch.testing.assert_close(seq.sum(-1), torch.ones(2, 3, 3, dtype=torch.float64))
    torch.testing.assert_close(seq.sum(-2), relaxed_topk(s, 3, 0.4))
    # the first step relaxes the argmax
    assert (seq[..., 0, :].argmax(-1) == s.argmax(-1)).all()


def test_masked_items_get_no_mass():
    s = torch.tensor([[1.0, float("-inf"), 0.5, float("-inf"), -2.0]], requires_grad=True)
    out = relaxed_topk(s, 3, 2.0)
    assert out[0, 1] == 0 and out[0, 3] == 0
    out.sum().backward()
    assert torch.isfinite(s.grad).all()


def test_triton_is_chosen_for_cuda_tensors_only_and_only_when_installed(monkeypatch):
    """The dispatch rule, on a stand-in for a CUDA tensor (this machine may have no GPU)."""
    from types import SimpleNamespace

    from subsetgrad import relaxed

    on_cuda = SimpleNamespace(device=torch.device("cuda"))  # the dispatch reads only the device
    monkeypatch.setitem(relaxed._TRITON_STATE, "module", object())
    assert relaxed._use_triton(on_cuda)
    assert not relaxed._use_triton(torch.zeros(2, 3))
    monkeypatch.setitem(relaxed._TRITON_STATE, "module", None)  # Triton not installed
    assert not relaxed._use_triton(on_cuda)


def test_the_triton_module_is_imported_once_and_none_when_it_cannot_be(monkeypatch):
    import sys

    import subsetgrad
    from subsetgrad import relaxed

    monkeypatch.delitem(relaxed._TRITON_STATE, "module", raising=False)
    try:
        from subsetgrad import _relaxed_triton as installed
    except ImportError:  # Triton is not installed here
        installed = None
    assert relaxed._triton_kernels() is installed
    # no Triton: the module cannot be imported (None in sys.modules makes the import fail)
    monkeypatch.delitem(relaxed._TRITON_STATE, "module")
    monkeypatch.delattr(subsetgrad, "_relaxed_triton", raising=False)
    monkeypatch.setitem(sys.modules, "subsetgrad._relaxed_triton", None)
    assert relaxed._triton_kernels() is None
    assert relaxed._TRITON_STATE == {"module": None}
    # imported on first use only: what the first call found is kept
    kept = object()
    monkeypatch.setitem(relaxed._TRITON_STATE, "module", kept)
    assert relaxed._triton_kernels() is kept


def test_with_triton_the_rows_and_options_go_to_its_kernels(monkeypatch):
    """What the CUDA path hands the Triton kernels (a stand-in here, computing with the fused
    op): the scores as [B, n] rows, k, tau and the three flags as bools, and its [B, n] k-hot
    or [B, k, n] steps reshaped to the scores' leading dimensions."""
    from subsetgrad import relaxed
    from subsetgrad._relaxed_kernels import RelaxedTopK

    calls = []

    class TritonStandIn:
        @staticmethod
        def relaxed_topk_rows(rows, k, tau, hard, sequence, recompute):
            calls.append((tuple(rows.shape), k, tau, hard, sequence, recompute))
            assert all(type(flag) is bool for flag in (hard, sequence, recompute))
            outputs = RelaxedTopK.apply(rows, k, tau, hard, sequence)
            return torch.stack(outputs, dim=-2) if sequence else outputs[-1]

    s = torch.randn(2, 3, 6, dtype=torch.float64)
    expected = {
        "soft": relaxed_topk(s, 2, 0.5),
        "hard": relaxed_topk(s, 2, 0.5, hard=True),
        "sequence": relaxed_topk_sequence(s, 3, 0.5),
    }
    monkeypatch.setattr(relaxed, "_use_triton", lambda scores: True)
    monkeypatch.setitem(relaxed._TRITON_STATE, "module", TritonStandIn)
    assert torch.equal(relaxed_topk(s, 2, 0.5), expected["soft"])
    assert torch.equal(relaxed_topk(s, 2, 0.5, hard=1, recompute=True), expected["hard"])
    assert torch.equal(relaxed_topk_sequence(s, 3, 0.5), expected["sequence"])
    assert torch.equal(relaxed_topk_sequence(s, 3, 0.5, recompute=True), expected["sequence"])
    assert calls == [
        ((6, 6), 2, 0.5, False, False, False),
        ((6, 6), 2, 0.5, True, False, True),
        ((6, 6), 3, 0.5, False, True, False),
        ((6, 6), 3, 0.5, False, True, True),
    ]


# Finiteness on extreme inputs (logits in [-1e4, 1e4], ties, -inf masks, tau in [1e-3, 1e2])
# is a hypothesis property test in test_relaxed_fused.py, together with equality to the
# textbook loop.

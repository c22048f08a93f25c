"""Checkpoint/resume machinery: a resumed run equals an uninterrupted one bit for bit."""

import pytest
import torch

from subsetgrad import make_estimator
from subsetgrad.bench.training import NonFiniteLossError, TrainingRun


def _train(path, stop_after=None, epochs=4):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    model = torch.nn.Linear(6, 6)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    est = make_estimator("reinforce", 2)
    run = TrainingRun(
        path,
        {"model": model, "opt": opt, "estimator": est},
        {"data": gen},
        context={"estimator": "reinforce"},
    )
    run.resume()
    for epoch in run.epochs(epochs):
        for step in range(5):
            x = torch.randn(8, 6, generator=gen)
            sample = est.sample(model(x))
            loss_per = (sample.khot * x).sum(-1)
            loss = est.surrogate(sample, loss_per)
            run.check_finite(loss, epoch, step)
            opt.zero_grad()
            loss.backward()
            opt.step()
        run.end_epoch(epoch, {"loss": float(loss)})
        if stop_after is not None and epoch == stop_after:
            return None
    return model.weight.detach().clone(), run.history


def test_resume_is_bitwise_identical(tmp_path):
    full_weight, full_history = _train(tmp_path / "a.pt")
    assert _train(tmp_path / "b.pt", stop_after=1) is None  # "killed" after epoch 1
    resumed_weight, resumed_history = _train(tmp_path / "b.pt")
    assert torch.equal(full_weight, resumed_weight)
    assert full_history == resumed_history


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_loss_names_step_and_context(tmp_path, value):
    run = TrainingRun(tmp_path / "c.pt", {}, context={"estimator": "relaxed", "tau": 0.1})
    with pytest.raises(NonFiniteLossError, match=r"epoch 2, step 7 \(estimator=relaxed, tau=0.1\)"):
        run.check_finite(torch.tensor(value), 2, 7)
    run.check_finite(torch.tensor(1e30), 2, 8)  # large but finite: no error

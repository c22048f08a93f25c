"""Checkpoints are untrusted input: planted, truncated and corrupted files are reported by
path and skipped in favour of the previous valid one, and never run code; writes that
fail on a full disk leave nothing half-written and name the path."""

import errno
import hashlib
import io
import os
from pathlib import Path

import pytest
import torch

from subsetgrad.bench import io as bench_io
from subsetgrad.bench.checkpoints import (
    FORMAT,
    InvalidCheckpointError,
    load_checkpoint,
    previous_path,
    read_checkpoint,
    save_checkpoint,
)
from subsetgrad.bench.training import TrainingRun


class _CreatesFile:
    """Unpickling this opens (so creates) ``marker``: the planted checkpoint's payload."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _training(path: Path, seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 2)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    noise = torch.Generator().manual_seed(seed)
    run = TrainingRun(path, {"model": model, "opt": optimiser}, {"noise": noise}, fingerprint={"lr": 0.1})
    return run, model, optimiser, noise


def _train(path: Path, epochs: int, stop_after: int | None = None) -> dict:
    """``epochs`` epochs of a toy regression with checkpoints; stops early after epoch
    ``stop_after`` (a kill); returns the final weights."""
    run, model, optimiser, noise = _training(path)
    run.resume()
    for epoch in run.epochs(epochs):
        x = torch.randn(8, 3, generator=noise)
        loss = (model(x) - x[:, :2]).pow(2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        run.end_epoch(epoch, {"loss": float(loss.detach())})
        if epoch == stop_after:
            break
    return {key: value.clone() for key, value in model.state_dict().items()}, run


def _plant(path: Path, marker: Path, *, inside_envelope: bool) -> None:
    """A checkpoint whose unpickling would create ``marker``: as a bare pickle, or inside
    an envelope with a correct checksum (a forger who knows the format)."""
    evil = {"epoch": 0, "hook": _CreatesFile(marker)}
    if not inside_envelope:
        torch.save(evil, path)
        return
    buffer = io.BytesIO()
    torch.save(evil, buffer)
    payload = buffer.getvalue()
    torch.save(
        {
            "format": FORMAT,
            "sha256": hashlib.sha256(payload).hexdigest(),
            "payload": torch.frombuffer(bytearray(payload), dtype=torch.uint8),
        },
        path,
    )


def test_the_planted_payload_would_run_code_without_weights_only(tmp_path):
    """The premise of the planted-checkpoint tests: an unrestricted load creates the file."""
    marker = tmp_path / "pwned"
    _plant(tmp_path / "evil.pt", marker, inside_envelope=False)
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("inside_envelope", [False, True], ids=["bare_pickle", "forged_envelope"])
def test_a_planted_checkpoint_runs_no_code_and_the_previous_one_is_resumed(tmp_path, capsys, inside_envelope):
    path, marker = tmp_path / "run.pt", tmp_path / "pwned"
    reference, _ = _train(tmp_path / "reference.pt", 4)
    _train(path, 4, stop_after=1)  # killed after epoch 1: run.pt at epoch 1, run.pt.prev at 0
    _plant(path, marker, inside_envelope=inside_envelope)
    run, *_ = _training(path)
    assert run.resume() == 1  # the previous checkpoint (epoch 0)
    assert not marker.exists()
    err = capsys.readouterr().err
    assert f"ignoring an invalid checkpoint: {path}" in err and f"resumed from {previous_path(path)}" in err
    resumed, _ = _train(path, 4)
    assert not marker.exists()
    for key, tensor in reference.items():  # resuming from the older state loses nothing
        assert torch.equal(resumed[key], tensor), key


def test_a_planted_checkpoint_without_a_previous_one_starts_from_scratch(tmp_path, capsys):
    path, marker = tmp_path / "run.pt", tmp_path / "pwned"
    _plant(path, marker, inside_envelope=False)
    run, *_ = _training(path)
    assert run.resume() == 0 and not run.resumed and run.history == []
    assert not marker.exists()
    assert f"ignoring an invalid checkpoint: {path} is not a readable checkpoint" in capsys.readouterr().err


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_one_payload_byte(path: Path) -> None:
    """Flip a bit inside the payload, then rewrite the envelope with the stale checksum (as
    a bad sector under an intact zip container would leave it)."""
    envelope = torch.load(path, weights_only=True)
    payload = envelope["payload"].clone()
    payload[len(payload) // 2] ^= 0x10
    torch.save({**envelope, "payload": payload}, path)


def _flip_raw_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize("damage", [_truncate, _flip_one_payload_byte, _flip_raw_byte, _empty])
def test_a_damaged_checkpoint_is_reported_and_the_previous_one_used(tmp_path, capsys, damage):
    path = tmp_path / "run.pt"
    reference, _ = _train(tmp_path / "reference.pt", 4)
    _train(path, 4, stop_after=2)
    damage(path)
    with pytest.raises(InvalidCheckpointError, match=str(path)):
        read_checkpoint(path)
    state, source = load_checkpoint(path)
    assert source == previous_path(path) and state["epoch"] == 1
    run, *_ = _training(path)
    assert run.resume() == 2
    assert f"ignoring an invalid checkpoint: {path}" in capsys.readouterr().err
    resumed, _ = _train(path, 4)
    for key, tensor in reference.items():
        assert torch.equal(resumed[key], tensor), key


def test_a_corrupted_payload_is_named_as_corrupted(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint({"epoch": 3, "w": torch.arange(100.0)}, path)
    _flip_one_payload_byte(path)
    with pytest.raises(InvalidCheckpointError, match=r"c\.pt is corrupted: its payload has sha256"):
        read_checkpoint(path)


def test_only_the_last_two_checkpoints_are_kept(tmp_path):
    path = tmp_path / "run.pt"
    for epoch in range(4):
        save_checkpoint({"epoch": epoch}, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt", "run.pt.prev"]
    assert read_checkpoint(path)["epoch"] == 3 and read_checkpoint(previous_path(path))["epoch"] == 2


def test_both_checkpoints_invalid_starts_from_scratch(tmp_path, capsys):
    path = tmp_path / "run.pt"
    _train(path, 4, stop_after=2)
    _truncate(path)
    _truncate(previous_path(path))
    run, *_ = _training(path)
    assert run.resume() == 0
    err = capsys.readouterr().err
    assert str(path) in err and str(previous_path(path)) in err


def _full_disk_after(monkeypatch, budget: int) -> None:
    """Writes through ``os.write`` and Python file objects fail with ENOSPC once ``budget``
    bytes have been written (torch.save writes through a Python file object)."""
    written = [0]
    real_open = open

    class _Full(io.FileIO):
        def write(self, data):
            written[0] += len(data)
            if written[0] > budget:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return super().write(data)

    def fake_open(file, mode="r", *args, **kwargs):
        if "w" in mode and "b" in mode and Path(str(file)).name.startswith("."):
            return io.BufferedWriter(_Full(file, "wb"))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)


def test_a_full_disk_leaves_no_partial_checkpoint_names_the_path_and_the_rerun_resumes(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    reference, _ = _train(tmp_path / "reference.pt", 4)
    _train(path, 4, stop_after=1)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("run")}
    with monkeypatch.context() as patch:
        _full_disk_after(patch, 100)
        with pytest.raises(OSError, match=rf"no space left on the device while writing {path}") as raised:
            _train(path, 4)
        assert raised.value.errno == errno.ENOSPC
    # nothing half-written: the two checkpoints are as before and no temporary file is left
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("run")} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    resumed, run = _train(path, 4)  # space freed: the same command continues
    assert run.start_epoch == 2
    for key, tensor in reference.items():
        assert torch.equal(resumed[key], tensor), key


@pytest.mark.parametrize(
    "write",
    [
        lambda p: bench_io.write_text(p, "x" * 10_000),
        lambda p: bench_io.write_json(p, {"x": "y" * 10_000}),
        lambda p: bench_io.torch_save({"w": torch.zeros(10_000)}, p),
    ],
    ids=["text", "json", "torch"],
)
def test_a_full_disk_leaves_outputs_untouched(tmp_path, monkeypatch, write):
    path = tmp_path / "out"
    path.write_text("old")
    with monkeypatch.context() as patch:
        _full_disk_after(patch, 100)
        real_write_text = Path.write_text

        def full_write_text(self, data, *args, **kwargs):
            if self.name.startswith("."):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_write_text(self, data, *args, **kwargs)

        patch.setattr(Path, "write_text", full_write_text)
        with pytest.raises(OSError, match=f"while writing {path}"):
            write(path)
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    write(path)
    assert path.read_bytes() != b"old"

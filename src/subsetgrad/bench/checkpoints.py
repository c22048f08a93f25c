"""Checkpoint files that are verified before they are used.

A training checkpoint lives in a shared ``results/`` folder and is read back by the next
job that resumes, so it is treated as untrusted input:

* it is opened with ``torch.load(..., weights_only=True)``, which builds tensors, plain
  containers and numbers only and never runs code from the file;
* it carries the sha256 of its serialized payload, checked before the payload is
  deserialised, so a file truncated by a full disk or a crash, or flipped by a bad
  sector, is detected instead of silently resumed;
* it is written atomically and durably (temporary file, ``fsync``, ``os.replace``,
  ``fsync`` of the folder), and the previous checkpoint is kept beside it
  (``<name>.prev``), so that one invalid file falls back to the one before.

:func:`load_checkpoint` returns the newest valid state; every file it skips is reported
on stderr by path with the reason.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
from pathlib import Path
from typing import Any

import torch

from subsetgrad.bench.io import atomic_path, torch_bytes

#: Marks the envelope a checkpoint is stored in; a file without it is not one of ours.
FORMAT = "subsetgrad-checkpoint-v1"


class InvalidCheckpointError(ValueError):
    """A checkpoint file that cannot be used: unreadable, truncated, altered, or foreign."""


def previous_path(path: str | os.PathLike) -> Path:
    """Where the checkpoint before the newest is kept."""
    path = Path(path)
    return path.with_name(path.name + ".prev")


def save_checkpoint(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` (tensors, dicts, lists, tuples, strings, numbers) to ``path`` with the
    checksum of its payload; the checkpoint it replaces becomes :func:`previous_path`."""
    path = Path(path)
    payload = torch_bytes(obj)
    envelope = {
        "format": FORMAT,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "payload": torch.frombuffer(bytearray(payload), dtype=torch.uint8),
    }
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(torch_bytes(envelope))
        if path.exists():
            # the newest becomes the previous one; killed between the two renames, only
            # the previous checkpoint exists and a resume uses it
            os.replace(path, previous_path(path))


def read_checkpoint(path: str | os.PathLike) -> Any:
    """The verified content of one checkpoint file; :class:`InvalidCheckpointError`
    (naming ``path`` and what is wrong) when it is not a valid checkpoint."""
    path = Path(path)
    try:
        envelope = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, planted pickle, foreign file: all the same to us
        raise InvalidCheckpointError(f"{path} is not a readable checkpoint ({_reason(err)})") from err
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
        raise InvalidCheckpointError(f"{path} is not a checkpoint written by this package")
    payload = envelope.get("payload")
    if not isinstance(payload, torch.Tensor) or payload.dtype != torch.uint8 or payload.dim() != 1:
        raise InvalidCheckpointError(f"{path} has no payload")
    data = payload.numpy().tobytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != envelope.get("sha256"):
        raise InvalidCheckpointError(
            f"{path} is corrupted: its payload has sha256 {actual}, but it was written with "
            f"{envelope.get('sha256')}"
        )
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:
        reason = _reason(err)
        raise InvalidCheckpointError(f"{path} holds a payload that is not plain data ({reason})") from err


def load_checkpoint(path: str | os.PathLike) -> tuple[Any, Path] | None:
    """The newest valid checkpoint at ``path`` or its :func:`previous_path`, and the file it
    came from; ``None`` when neither holds one. Invalid files are reported and skipped."""
    for candidate in (Path(path), previous_path(path)):
        if not candidate.exists():
            continue
        try:
            return read_checkpoint(candidate), candidate
        except InvalidCheckpointError as err:
            print(f"ignoring an invalid checkpoint: {err}", file=sys.stderr)
    return None


def remove_checkpoint(path: str | os.PathLike) -> None:
    """Delete a checkpoint and the previous one kept beside it."""
    for candidate in (Path(path), previous_path(path)):
        candidate.unlink(missing_ok=True)


def _reason(err: BaseException) -> str:
    """The first line of an error, short enough for a log line."""
    text = str(err).strip().splitlines()
    first = text[0] if text else type(err).__name__
    return f"{type(err).__name__}: {first[:300]}"

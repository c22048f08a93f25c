"""Content manifests: verify a dataset by the files it holds rather than by its archive's bytes.

An official archive is pinned by its published checksum, but the same files
often reach users in another form: extracted into a folder, or repacked into a
new tarball (different member order, timestamps or compression, so a different
checksum). A :class:`ContentManifest` pins the *content* instead.

Serialisation (the pinned ``sha256``): for every file of the set (paths matched
by ``pattern``, relative to the folder that holds the dataset's top folder, with
``/`` separators, e.g. ``aclImdb/train/pos/0_9.txt``), one line

    ``"<relative path>\\t<hex sha256 of the file's bytes>\\n"``

The lines are sorted by relative path (Python string order), joined, encoded as
UTF-8, and hashed with sha256. Files outside ``pattern`` are ignored, so extra
files (``aclImdb/train/unsup/``, ``*.feat``) do not matter.

To say *which* files are missing or differ, the manifest also pins a compact
fingerprint per expected file (:attr:`ContentManifest.fingerprints`): the first
two bytes of the sha256 of that file's manifest line, in a fixed order of
``(folder, numeric id)`` slots. They only localise a mismatch; acceptance rests
on the full sha256 alone.
"""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from subsetgrad.bench.data.core import DataError

FINGERPRINT_BYTES = 2
SHOW = 5  # names listed per kind of mismatch


@dataclass(frozen=True)
class ContentManifest:
    """The pinned content of a file set laid out as ``<top>/<folder>/<id>_<anything>.txt``.

    ``pattern`` matches a relative path and captures ``folder`` and ``id``;
    ``folders`` lists every folder and ``ids_per_folder`` the ids ``0..n-1`` each
    holds (one file per slot). ``fingerprints_file`` (relative to this module) holds
    ``FINGERPRINT_BYTES`` per slot, folders in the order of ``folders``, ids
    ascending; if it is absent, mismatches are still detected but only missing
    slots can be named.
    """

    top: str
    pattern: str
    folders: tuple[str, ...]
    ids_per_folder: int
    sha256: str
    fingerprints_file: str = ""

    @property
    def count(self) -> int:
        return len(self.folders) * self.ids_per_folder

    def fingerprints(self) -> bytes | None:
        if not self.fingerprints_file:
            return None
        path = Path(__file__).parent / self.fingerprints_file  # relative to this module
        data = path.read_bytes() if path.is_file() else None
        return data if data is not None and len(data) == self.count * FINGERPRINT_BYTES else None


def manifest_line(relpath: str, file_sha256: str) -> str:
    return f"{relpath}\t{file_sha256}\n"


def manifest_sha256(lines: dict[str, str]) -> str:
    """The manifest hash of ``{relative path: hex sha256}`` (see the module docstring)."""
    digest = hashlib.sha256()
    for relpath in sorted(lines):
        digest.update(manifest_line(relpath, lines[relpath]).encode("utf-8"))
    return digest.hexdigest()


def _fingerprint(relpath: str, file_sha256: str) -> bytes:
    return hashlib.sha256(manifest_line(relpath, file_sha256).encode("utf-8")).digest()[:FINGERPRINT_BYTES]


def iter_members(path: str | Path, manifest: ContentManifest) -> Iterator[tuple[str, bytes]]:
    """``(relative path, bytes)`` of every file of ``path`` (folder or tarball) matching the manifest.

    ``path`` is either a tarball holding ``<top>/...`` or a folder: the ``<top>``
    folder itself or one that contains it. A tarball is read in one streaming pass.
    """
    path = Path(path)
    pattern = re.compile(manifest.pattern)
    if path.is_dir():
        root = path.parent if path.name == manifest.top else path
        top = root / manifest.top
        if not top.is_dir():
            raise DataError(
                f"{path} holds no folder {manifest.top}/; point to the extracted "
                f"{manifest.top}/ folder or to the folder that contains it"
            )
        for dirpath, _, filenames in os.walk(top):
            for filename in filenames:
                relpath = Path(dirpath, filename).relative_to(root).as_posix()
                if pattern.match(relpath):
                    yield relpath, Path(dirpath, filename).read_bytes()
        return
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if member.isfile() and pattern.match(member.name):
                    yield member.name, tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise DataError(
            f"{path} is not a readable tar archive, or is truncated or corrupt "
            f"({type(err).__name__}: {err}); replace it"
        ) from err


def file_hashes(path: str | Path, manifest: ContentManifest) -> dict[str, str]:
    """``{relative path: hex sha256}`` of the manifest's files in ``path``."""
    return {relpath: hashlib.sha256(data).hexdigest() for relpath, data in iter_members(path, manifest)}


def compute_fingerprints(lines: dict[str, str], manifest: ContentManifest) -> bytes:
    """The fingerprint table of a complete, correct file set (used once, to pin it)."""
    slots = _slots(lines, manifest)
    if len(slots) != manifest.count or any(len(v) != 1 for v in slots.values()):
        raise DataError("the file set does not fill every slot exactly once")
    return b"".join(
        _fingerprint(slots[(f, i)][0], lines[slots[(f, i)][0]])
        for f in manifest.folders
        for i in range(manifest.ids_per_folder)
    )


def _slots(lines: dict[str, str], manifest: ContentManifest) -> dict[tuple[str, int], list[str]]:
    pattern = re.compile(manifest.pattern)
    slots: dict[tuple[str, int], list[str]] = {}
    for relpath in sorted(lines):
        match = pattern.match(relpath)
        slots.setdefault((match.group("folder"), int(match.group("id"))), []).append(relpath)
    return slots


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:SHOW])
    return shown + (f", ... ({len(names) - SHOW} more)" if len(names) > SHOW else "")


def verify_manifest(path: str | Path, manifest: ContentManifest, what: str, remedy: str) -> str:
    """Check that ``path`` holds exactly the pinned files; return the manifest sha256.

    On a mismatch raise :class:`DataError` naming the first few missing, differing
    and unexpected files with their counts, followed by ``remedy``.
    """
    lines = file_hashes(path, manifest)
    actual = manifest_sha256(lines)
    if actual == manifest.sha256:
        return actual
    slots = _slots(lines, manifest)
    missing, differ, unexpected = [], [], []
    table = manifest.fingerprints()
    for f_index, folder in enumerate(manifest.folders):
        for i in range(manifest.ids_per_folder):
            names = slots.pop((folder, i), [])
            if not names:
                missing.append(f"{manifest.top}/{folder}/{i}_*.txt")
                continue
            unexpected.extend(names[1:])  # a second file for one review
            if table is not None:
                at = (f_index * manifest.ids_per_folder + i) * FINGERPRINT_BYTES
                if _fingerprint(names[0], lines[names[0]]) != table[at : at + FINGERPRINT_BYTES]:
                    differ.append(names[0])
    unexpected.extend(name for names in slots.values() for name in names)
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing ({_listing(missing)})")
    if differ:
        parts.append(f"{len(differ)} differ from the official release ({_listing(differ)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected ({_listing(sorted(unexpected))})")
    if not parts:
        parts.append(
            "their content differs from the official release"
            + (
                ""
                if table is not None
                else " (the per-file fingerprints are not installed, so the files cannot be named)"
            )
        )
    raise DataError(
        f"{path} does not hold the {manifest.count:,} files of {what} unchanged: of the expected "
        f"files, " + "; ".join(parts) + f" (content manifest sha256 {actual}, expected "
        f"{manifest.sha256}). {remedy}"
    )

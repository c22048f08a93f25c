"""Raw source files: download, checksum verification, and the manual-placement path.

Every downloaded dataset lists its official files as :class:`~subsetgrad.bench.data.core.RawFile`
(official name, mirror URLs, published checksum). A raw file lives at
``<data_dir>/raw/<source>/<official name>``; it gets there either by
:func:`download_raw_file` (run by the Snakemake rule ``download_raw_file``) or by
hand: a user without network places a copy at exactly that path, and the
preparation step accepts it once its checksum matches (:func:`verify_raw_file`).

Downloads stream to a temporary file next to the destination while hashing, and
the file is renamed into place only after the checksum matches, so an
interrupted, truncated or wrong download never leaves a file at the destination.
Setting the environment variable ``SUBSETGRAD_OFFLINE=1`` makes every download
fail at once with the manual-placement message (no network is touched).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from subsetgrad.bench.data.core import DATASETS, DataError, DatasetSpec, RawFile

CHUNK_BYTES = 1 << 20
TIMEOUT_S = 60
OFFLINE_ENV = "SUBSETGRAD_OFFLINE"


class ChecksumError(DataError):
    """A raw file's checksum differs from the published one."""


class MissingRawFileError(DataError):
    """A raw file is absent and could not be downloaded; the message says where to put a copy."""


def file_checksum(path: str | Path, algorithm: str) -> str:
    """Hex digest of a file's bytes (read in 1 MiB chunks)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def user_file_source(path: Path) -> dict:
    """The sidecar's ``source_files`` entry of a user's own data file: its sha256 and size."""
    return {
        "name": path.name,
        "path": str(path),
        "algorithm": "sha256",
        "checksum": file_checksum(path, "sha256"),
        "bytes": path.stat().st_size,
    }


def raw_path(data_dir: str | Path, source: str, raw_file: RawFile) -> Path:
    """Where a raw file lives: ``<data_dir>/raw/<source>/<official name>``."""
    return Path(data_dir) / "raw" / source / raw_file.name


def manual_copy_hint(raw_file: RawFile, dest: str | Path) -> str:
    """The sentence that tells a user how to supply a file by hand."""
    where = (
        f"download it from {' or '.join(raw_file.urls)}"
        if raw_file.urls
        else "this file has no public download URL" + (f" ({raw_file.note})" if raw_file.note else "")
    )
    return (
        f"{where}; place a copy at {dest} (exactly this path and name; "
        f"{raw_file.algorithm} {raw_file.checksum}) and run the workflow again"
    )


def locate_raw_file(raw_dir: str | Path, raw_file: RawFile) -> Path:
    """Where ``raw_file`` is in ``raw_dir``: the official name, else its first present alternative form.

    Alternatives (a :class:`RawFile` with a content manifest: an extracted folder or a
    repacked archive) are looked up only when the official file is absent; where
    none is present either, the official path is returned (to be downloaded there).
    Several matches of one alternative pattern are ambiguous and raise :class:`DataError`.
    """
    raw_dir = Path(raw_dir)
    official = raw_dir / raw_file.name
    if official.exists() or raw_file.manifest is None:
        return official
    for pattern in raw_file.alternatives:
        # hidden names are partial downloads or editor files, never a user's copy
        found = sorted(p for p in raw_dir.glob(pattern) if not p.name.startswith(".") and p != official)
        if len(found) > 1:
            raise DataError(
                f"{raw_dir} holds several candidates for {raw_file.name} "
                f"({', '.join(p.name for p in found)}); keep exactly one of them"
            )
        if found:
            return found[0]
    return official


def verify_raw_file(path: str | Path, raw_file: RawFile) -> str:
    """Check that ``path`` holds ``raw_file``; return the checksum it was verified by.

    Under the official name the file must have the published checksum. Any other
    path (an alternative form, see :func:`locate_raw_file`) must match the raw
    file's content manifest; the return value is then ``manifest-sha256:<hex>``.
    A missing file raises :class:`MissingRawFileError`, a wrong one :class:`ChecksumError`
    (a user's copy is never deleted here; only downloads clean up after themselves).
    """
    path = Path(path)
    if path.name != raw_file.name and raw_file.manifest is not None and path.exists():
        from subsetgrad.bench.data.manifest import verify_manifest

        try:
            digest = verify_manifest(
                path,
                raw_file.manifest,
                f"{raw_file.name}",
                f"Replace it with an unmodified copy, or delete it and "
                f"{manual_copy_hint(raw_file, path.parent / raw_file.name)}",
            )
        except DataError as err:
            raise ChecksumError(str(err)) from err
        return f"manifest-sha256:{digest}"
    if not path.is_file():
        raise MissingRawFileError(f"raw file {path} is missing: {manual_copy_hint(raw_file, path)}")
    actual = file_checksum(path, raw_file.algorithm)
    if actual != raw_file.checksum:
        alt = ""
        if raw_file.manifest is not None:
            alt = (
                f" A repacked archive or an extracted folder of the same files is accepted under "
                f"another name in {path.parent} ({', '.join(raw_file.alternatives)}), verified "
                f"file by file; move it there."
            )
        raise ChecksumError(
            f"raw file {path} has {raw_file.algorithm} {actual}, but the published checksum is "
            f"{raw_file.checksum}: it is damaged, truncated or not the official file. Delete it "
            f"(rm {path}) and run the workflow again to download it, or {manual_copy_hint(raw_file, path)}"
            + alt
        )
    return actual


def require_raw_files(spec: DatasetSpec, raw_dir: str | Path) -> list[dict]:
    """Verify every raw file of ``spec`` in ``raw_dir``; return sidecar entries for them.

    Each raw file is looked up with :func:`locate_raw_file` (the official name or an
    alternative form) and verified before any preparation work; the entry records
    the path used (``name``) and how it was verified.
    """
    raw_dir = Path(raw_dir)
    entries = []
    for raw_file in spec.raw_files:
        path = locate_raw_file(raw_dir, raw_file)
        checksum = verify_raw_file(path, raw_file)
        entry = {
            "name": path.name,
            "url": raw_file.urls[0] if raw_file.urls else None,
            "algorithm": raw_file.algorithm,
            "checksum": checksum,
            "bytes": path.stat().st_size if path.is_file() else None,
        }
        if path.name != raw_file.name:
            entry.update(
                algorithm="content manifest (sha256)",
                checksum=checksum.split(":", 1)[1],
                stands_for=raw_file.name,
            )
        entries.append(entry)
    return entries


def raw_file_table() -> dict[tuple[str, str], RawFile]:
    """Every builtin raw file by ``(source, official name)``; shared files must agree."""
    table: dict[tuple[str, str], RawFile] = {}
    for spec in DATASETS.values():
        for raw_file in spec.raw_files:
            key = (spec.source, raw_file.name)
            if key in table and table[key].checksum != raw_file.checksum:
                raise RuntimeError(f"raw file {key} is declared with two different checksums")
            table.setdefault(key, raw_file)
    return table


def _offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip() not in ("", "0", "false", "no")


def _stream(url: str, tmp: Path, algorithm: str, label: str, progress: bool) -> str:
    """Copy ``url`` to ``tmp`` while hashing; return the hex digest."""
    from tqdm.auto import tqdm

    digest = hashlib.new(algorithm)
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        received = 0
        with (
            open(tmp, "wb") as out,
            tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=label,
                disable=not progress,
                mininterval=1.0,
            ) as bar,
        ):
            for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and received != total:
        raise ConnectionError(f"the connection closed after {received} of {total} bytes")
    return digest.hexdigest()


def _permanent(err: Exception) -> bool:
    """A failure that retrying cannot fix: an HTTP client error (404, 403, ...) or a bad URL."""
    return (isinstance(err, urllib.error.HTTPError) and err.code < 500) or isinstance(err, ValueError)


def _fetch_once(url: str, raw_file: RawFile, dest: Path, progress: bool) -> None:
    """One attempt: stream to a temporary file beside ``dest``, verify, rename; never leave a partial file."""
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.part-", dir=dest.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        print(f"downloading {url} -> {dest}", flush=True)
        actual = _stream(url, tmp, raw_file.algorithm, raw_file.name, progress)
        if actual != raw_file.checksum:
            raise ChecksumError(
                f"checksum mismatch for {url}: expected {raw_file.algorithm} {raw_file.checksum}, "
                f"got {actual}; the downloaded file was deleted. The server may have changed the "
                f"file or the download was corrupted: run the workflow again, or "
                f"{manual_copy_hint(raw_file, dest)}"
            )
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private; a download is ordinary data
        os.replace(tmp, dest)  # same folder: an atomic rename
        print(f"verified {raw_file.algorithm} {actual}", flush=True)
    finally:
        tmp.unlink(missing_ok=True)


def download_raw_file(
    raw_file: RawFile, dest: str | Path, *, progress: bool = True, attempts: int = 3, backoff_s: float = 2.0
) -> Path:
    """Download ``raw_file`` to ``dest``, verify its checksum, then move it into place.

    Mirrors are tried in order; on each, a transient failure (refused or reset
    connection, timeout, truncated transfer, HTTP 5xx) is retried up to
    ``attempts`` times after ``backoff_s``, ``2 backoff_s``, ... seconds. (The retries
    live here rather than in Snakemake's ``retries:`` so that a file that cannot be
    downloaded at all, offline or without a public URL, fails at once.) Failures on
    every mirror raise :class:`MissingRawFileError` naming the file, the URLs and the
    exact path for a manual copy; a download with the wrong checksum raises
    :class:`ChecksumError` naming the URL, the expected and the actual checksum. In
    both cases nothing is left at ``dest`` or next to it. An existing ``dest`` with
    the right checksum is kept without touching the network.
    """
    dest = Path(dest)
    if dest.is_file() and file_checksum(dest, raw_file.algorithm) == raw_file.checksum:
        return dest
    if not raw_file.urls:
        raise MissingRawFileError(f"raw file {dest} is missing: {manual_copy_hint(raw_file, dest)}")
    if _offline():
        raise MissingRawFileError(
            f"raw file {dest} is missing and downloads are disabled "
            f"({OFFLINE_ENV} is set): {manual_copy_hint(raw_file, dest)}"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in raw_file.urls:
        for attempt in range(1, attempts + 1):
            try:
                _fetch_once(url, raw_file, dest, progress)
                return dest
            except ChecksumError:
                raise
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
                # URLError: unreachable host, refused connection, HTTP error status;
                # HTTPException: e.g. IncompleteRead; OSError: resets and timeouts;
                # ValueError: a malformed URL.
                detail = (
                    f"HTTP {err.code} {err.reason}"
                    if isinstance(err, urllib.error.HTTPError)
                    else getattr(err, "reason", None) or err
                )
                reason = f"{url}: {detail}"
                print(f"attempt {attempt}/{attempts} failed: {reason}", flush=True)
                if _permanent(err) or attempt == attempts:
                    failures.append(reason)
                    break
                time.sleep(backoff_s * 2 ** (attempt - 1))
    raise MissingRawFileError(
        f"raw file {dest} is missing and could not be downloaded ("
        + "; ".join(failures)
        + "). If this machine is offline or the server is blocked, "
        + manual_copy_hint(raw_file, dest)
    )

"""The Large Movie Review Dataset in its three forms: official tarball, extracted folder, repacked tarball.

The official tarball is verified by its published md5; the other two by the
content manifest of the 50,000 labelled reviews. The real-data tests read the
repacked archive in ../shared/data (skipped where absent); the rest use small
archives written here with a manifest and md5 pinned to them.
"""

import dataclasses
import hashlib
import io
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

from subsetgrad.bench.data import DATASETS, ChecksumError, DataError, prepare_dataset
from subsetgrad.bench.data.download import file_checksum, locate_raw_file, require_raw_files, verify_raw_file
from subsetgrad.bench.data.imdb import ACLIMDB, ACLIMDB_MANIFEST, read_aclimdb
from subsetgrad.bench.data.manifest import (
    compute_fingerprints,
    file_hashes,
    manifest_sha256,
    verify_manifest,
)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SUBSETGRAD_SHARED_DATA", REPO.parent / "shared" / "data"))
SHARED_ARCHIVE = "aclImdb_labelled_v1.tar.gz"


# --- small archives, manifest pinned here ---------------------------------------------------


def review_files(per_folder=3):
    files = {}
    for split in ("train", "test"):
        for polarity in ("pos", "neg"):
            for i in range(per_folder):
                rating = 8 if polarity == "pos" else 3
                files[f"aclImdb/{split}/{polarity}/{i}_{rating}.txt"] = (
                    f"{polarity} {split} review {i}. A film.<br /><br />The end!".encode()
                )
    return files


def write_tar(path, files, extra=True):
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        members = dict(files)
        if extra:
            members.update({"aclImdb/train/unsup/0_0.txt": b"unlabelled", "aclImdb/README": b"readme"})
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def write_folder(root, files):
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root / "aclImdb"


@pytest.fixture
def small_manifest(tmp_path, monkeypatch):
    """Pin the IMDB raw file to a 12-review set: its manifest, fingerprints and tarball md5."""
    files = review_files()
    lines = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    manifest = dataclasses.replace(
        ACLIMDB_MANIFEST,
        ids_per_folder=3,
        sha256=manifest_sha256(lines),
        fingerprints_file=str(tmp_path / "fingerprints.bin"),
    )
    (tmp_path / "fingerprints.bin").write_bytes(compute_fingerprints(lines, manifest))
    official = write_tar(tmp_path / "official" / ACLIMDB.name, files)
    raw_file = dataclasses.replace(ACLIMDB, checksum=file_checksum(official, "md5"), manifest=manifest)
    for name in ("imdb_word", "imdb_sentence"):
        monkeypatch.setattr(DATASETS[name], "raw_files", (raw_file,))
    return files, raw_file, official


def test_manifest_serialisation_is_the_documented_one():
    lines = {"b/x.txt": "00" * 32, "a/y.txt": "ff" * 32}
    text = f"a/y.txt\t{'ff' * 32}\nb/x.txt\t{'00' * 32}\n"
    assert manifest_sha256(lines) == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_official_name_is_verified_by_md5(tmp_path, small_manifest):
    files, raw_file, official = small_manifest
    assert locate_raw_file(official.parent, raw_file) == official
    assert verify_raw_file(official, raw_file) == raw_file.checksum
    ds = prepare_dataset(
        "imdb_sentence", official.parent, split_seed=0, val_size=2, num_words=30, max_sentences=3, max_words=5
    )
    assert ds.meta["source_files"][0]["algorithm"] == "md5"
    # a repacked archive under the official name has the right content but not the published
    # md5: only the published checksum counts under that name, and the error says where to put it
    bad = write_tar(tmp_path / "bad" / ACLIMDB.name, files, extra=False)
    with pytest.raises(ChecksumError, match=r"published checksum.*repacked archive or an extracted folder"):
        verify_raw_file(bad, raw_file)


def test_repacked_tarball_and_extracted_folder_are_verified_by_content(tmp_path, small_manifest):
    files, raw_file, official = small_manifest
    repacked = write_tar(tmp_path / "raw_tar" / "my_imdb.tar.gz", dict(reversed(files.items())), extra=False)
    folder = write_folder(tmp_path / "raw_dir", files)
    (folder / "train/unsup").mkdir()
    (folder / "train/unsup/5_0.txt").write_text("extra files are ignored")
    for raw_dir, expected in ((repacked.parent, repacked), (folder.parent, folder)):
        assert locate_raw_file(raw_dir, raw_file) == expected
        assert verify_raw_file(expected, raw_file) == f"manifest-sha256:{raw_file.manifest.sha256}"
        entry = require_raw_files(DATASETS["imdb_sentence"], raw_dir)[0]
        assert entry["stands_for"] == ACLIMDB.name and entry["name"] == expected.name
    # every form yields the same reviews, hence the same prepared data
    reference = read_aclimdb(official)
    for form in (repacked, folder, folder.parent):
        reviews = read_aclimdb(form)
        for split in ("train", "test"):
            assert reviews[split][0] == reference[split][0]
            assert np.array_equal(reviews[split][1], reference[split][1])
    a = prepare_dataset("imdb_word", official.parent, split_seed=0, val_size=2, num_words=20, maxlen=8)
    b = prepare_dataset("imdb_word", folder.parent, split_seed=0, val_size=2, num_words=20, maxlen=8)
    for key in a.arrays:
        assert np.array_equal(a.arrays[key], b.arrays[key])


def test_two_candidate_archives_are_ambiguous(tmp_path, small_manifest):
    files, raw_file, _ = small_manifest
    write_tar(tmp_path / "raw/a.tar.gz", files)
    write_tar(tmp_path / "raw/b.tar.gz", files)
    with pytest.raises(DataError, match="several candidates.*a.tar.gz, b.tar.gz"):
        locate_raw_file(tmp_path / "raw", raw_file)


def test_tampered_copies_are_rejected_naming_the_files(tmp_path, small_manifest):
    files, raw_file, _ = small_manifest
    tampered = dict(files)
    tampered["aclImdb/test/pos/1_8.txt"] = b"a different review"
    del tampered["aclImdb/train/neg/2_3.txt"]
    tampered["aclImdb/train/neg/7_1.txt"] = b"not in the release"
    for path in (write_tar(tmp_path / "t/x.tar.gz", tampered), write_folder(tmp_path / "f", tampered)):
        with pytest.raises(ChecksumError) as err:
            verify_raw_file(path, raw_file)
        message = str(err.value)
        assert "1 missing (aclImdb/train/neg/2_*.txt)" in message
        assert "1 differ from the official release (aclImdb/test/pos/1_8.txt)" in message
        assert "1 unexpected (aclImdb/train/neg/7_1.txt)" in message
        assert "aclImdb_v1.tar.gz" in message and "md5" in message  # what to do instead
        # nothing is prepared from it
        with pytest.raises(ChecksumError):
            prepare_dataset("imdb_sentence", path.parent, split_seed=0)


def test_a_corrupt_alternative_archive_is_reported(tmp_path, small_manifest):
    _, raw_file, official = small_manifest
    broken = tmp_path / "raw/copy.tar.gz"
    broken.parent.mkdir()
    broken.write_bytes(official.read_bytes()[:200])
    with pytest.raises(ChecksumError, match="truncated or corrupt"):
        verify_raw_file(broken, raw_file)


def test_mismatch_without_fingerprints_still_rejects(tmp_path):
    files = review_files(per_folder=2)
    lines = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    manifest = dataclasses.replace(
        ACLIMDB_MANIFEST, ids_per_folder=2, sha256=manifest_sha256(lines), fingerprints_file=""
    )
    files["aclImdb/test/neg/0_3.txt"] = b"changed"
    with pytest.raises(DataError, match="cannot be named"):
        verify_manifest(write_tar(tmp_path / "x.tar", files), manifest, "reviews", "Replace it.")


# --- the real dataset -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """The shared repacked archive, extracted once (50,000 small files)."""
    archive = SHARED_DATA / SHARED_ARCHIVE
    if not archive.is_file():
        pytest.skip(f"{archive} is absent")
    root = tmp_path_factory.mktemp("aclimdb")
    with tarfile.open(archive, "r:gz") as tar:
        members = [m for m in tar if ACLIMDB_MANIFEST.top in m.name and m.isfile()]
        tar.extractall(root, members=members, filter="data")
    return archive, root


@pytest.mark.realdata
def test_pinned_manifest_and_fingerprints_match_the_real_reviews(extracted):
    archive, root = extracted
    assert verify_raw_file(archive, ACLIMDB) == f"manifest-sha256:{ACLIMDB_MANIFEST.sha256}"
    assert verify_raw_file(root / "aclImdb", ACLIMDB) == f"manifest-sha256:{ACLIMDB_MANIFEST.sha256}"
    assert locate_raw_file(root, ACLIMDB) == root / "aclImdb"
    lines = file_hashes(root, ACLIMDB_MANIFEST)
    assert len(lines) == 50000
    assert compute_fingerprints(lines, ACLIMDB_MANIFEST) == ACLIMDB_MANIFEST.fingerprints()


@pytest.mark.realdata
def test_real_tampered_folder_is_rejected_naming_the_files(extracted):
    _, root = extracted
    changed = next((root / "aclImdb/test/pos").glob("100_*.txt"))
    removed = next((root / "aclImdb/train/neg").glob("4321_*.txt"))
    original, removed_bytes = changed.read_bytes(), removed.read_bytes()
    try:
        changed.write_bytes(original + b" ")
        removed.unlink()
        with pytest.raises(ChecksumError) as err:
            verify_raw_file(root / "aclImdb", ACLIMDB)
        message = str(err.value)
        assert "1 missing (aclImdb/train/neg/4321_*.txt)" in message
        assert f"1 differ from the official release (aclImdb/test/pos/{changed.name})" in message
        assert "unexpected" not in message
    finally:
        changed.write_bytes(original)
        removed.write_bytes(removed_bytes)

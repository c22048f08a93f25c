"""Downloads and the manual-placement path, without internet: file:// URLs and a local HTTP server.

Every failure must name what to do (file, URL, exact path for a manual copy) and
leave nothing behind: no destination file and no temporary file next to it.
"""

import hashlib
import http.server
import socket
import threading

import pytest

from subsetgrad.bench.data import (
    DATASETS,
    ChecksumError,
    MissingRawFileError,
    RawFile,
    download_raw_file,
    prepare_dataset,
    require_raw_files,
    verify_raw_file,
)
from subsetgrad.bench.data.download import OFFLINE_ENV

PAYLOAD = b"official file content\n" * 5000


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(autouse=True)
def _online(monkeypatch):
    monkeypatch.delenv(OFFLINE_ENV, raising=False)


@pytest.fixture
def server(tmp_path):
    """A local HTTP server on 127.0.0.1: ``PAYLOAD`` at /good, a truncated body at /short,
    and at /flaky a 503 error on the first request, then ``PAYLOAD``."""
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            if self.path == "/flaky" and requests.count("/flaky") == 1:
                self.send_error(503)
            elif self.path in ("/good", "/flaky"):
                self.send_response(200)
                self.send_header("Content-Length", str(len(PAYLOAD)))
                self.end_headers()
                self.wfile.write(PAYLOAD)
            elif self.path == "/short":  # promises the whole file, sends half, hangs up
                self.send_response(200)
                self.send_header("Content-Length", str(len(PAYLOAD)))
                self.end_headers()
                self.wfile.write(PAYLOAD[: len(PAYLOAD) // 2])
                self.wfile.flush()
                self.close_connection = True
            else:
                self.send_error(404)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: the connection is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/file.gz"


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_file_url_download_is_verified_and_moved_into_place(tmp_path):
    source = tmp_path / "mirror/official.bin"
    source.parent.mkdir()
    source.write_bytes(PAYLOAD)
    dest = tmp_path / "raw/ds/official.bin"
    raw = RawFile("official.bin", (source.as_uri(),), "sha256", sha256(PAYLOAD))
    assert download_raw_file(raw, dest, progress=False) == dest
    assert dest.read_bytes() == PAYLOAD
    assert leftovers(dest.parent) == ["official.bin"]


def test_http_download_tries_mirrors_in_order(tmp_path, server):
    dest = tmp_path / "raw/ds/official.bin"
    raw = RawFile(
        "official.bin", (server + "/missing", server + "/good"), "md5", hashlib.md5(PAYLOAD).hexdigest()
    )
    download_raw_file(raw, dest, progress=False)
    assert dest.read_bytes() == PAYLOAD and leftovers(dest.parent) == ["official.bin"]


def test_checksum_mismatch_names_url_and_both_checksums_and_deletes_the_download(tmp_path, server):
    dest = tmp_path / "raw/ds/official.bin"
    expected = "0" * 64
    raw = RawFile("official.bin", (server + "/good",), "sha256", expected)
    with pytest.raises(ChecksumError) as info:
        download_raw_file(raw, dest, progress=False)
    message = str(info.value)
    assert server + "/good" in message and expected in message and sha256(PAYLOAD) in message
    assert leftovers(dest.parent) == []


def test_unreachable_url_says_where_to_put_a_manual_copy(tmp_path):
    url = closed_port_url()
    dest = tmp_path / "raw/mnist/t10k-images-idx3-ubyte.gz"
    raw = RawFile(dest.name, (url,), "md5", "9fb629c4189551a2d022fa330f9573f3")
    with pytest.raises(MissingRawFileError) as info:
        download_raw_file(raw, dest, progress=False, attempts=2, backoff_s=0)
    message = str(info.value)
    assert url in message and f"place a copy at {dest}" in message and "9fb629c4" in message
    assert leftovers(dest.parent) == []


def test_truncated_transfer_leaves_no_partial_file(tmp_path, server):
    dest = tmp_path / "raw/ds/official.bin"
    raw = RawFile("official.bin", (server + "/short",), "sha256", sha256(PAYLOAD))
    with pytest.raises(MissingRawFileError, match="closed after 55000 of 110000 bytes"):
        download_raw_file(raw, dest, progress=False, attempts=2, backoff_s=0)
    assert leftovers(dest.parent) == []


def test_transient_server_errors_are_retried(tmp_path, server):
    dest = tmp_path / "raw/ds/official.bin"
    raw = RawFile("official.bin", (server + "/flaky",), "sha256", sha256(PAYLOAD))
    with pytest.raises(MissingRawFileError, match="503"):
        download_raw_file(raw, dest, progress=False, attempts=1)
    download_raw_file(raw, tmp_path / "again/official.bin", progress=False, attempts=2, backoff_s=0)
    assert (tmp_path / "again/official.bin").read_bytes() == PAYLOAD


def test_missing_files_on_the_server_are_not_retried(tmp_path, server):
    dest = tmp_path / "raw/ds/official.bin"
    raw = RawFile("official.bin", (server + "/missing",), "sha256", sha256(PAYLOAD))
    with pytest.raises(MissingRawFileError, match="Not Found"):
        download_raw_file(raw, dest, progress=False, attempts=3, backoff_s=60)  # no 60 s wait


def test_offline_mode_never_touches_the_network(tmp_path, monkeypatch, server):
    monkeypatch.setenv(OFFLINE_ENV, "1")
    dest = tmp_path / "raw/ds/official.bin"
    raw = RawFile("official.bin", (server + "/good",), "sha256", sha256(PAYLOAD))
    with pytest.raises(MissingRawFileError, match=f"{OFFLINE_ENV} is set"):
        download_raw_file(raw, dest, progress=False)
    assert not dest.exists()


def test_a_correct_manual_copy_is_accepted_without_network(tmp_path):
    dest = tmp_path / "raw/ds/official.bin"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(PAYLOAD)
    raw = RawFile("official.bin", (closed_port_url(),), "sha256", sha256(PAYLOAD))
    assert download_raw_file(raw, dest, progress=False) == dest
    assert verify_raw_file(dest, raw) == sha256(PAYLOAD)


def test_a_wrong_manual_copy_is_reported_and_kept(tmp_path):
    dest = tmp_path / "raw/ds/official.bin"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(PAYLOAD[:-1])
    raw = RawFile("official.bin", ("https://example.org/official.bin",), "sha256", sha256(PAYLOAD))
    with pytest.raises(ChecksumError) as info:
        verify_raw_file(dest, raw)
    message = str(info.value)
    assert str(dest) in message and sha256(PAYLOAD) in message and sha256(PAYLOAD[:-1]) in message
    assert dest.exists()  # a user's file is never deleted


def test_file_without_public_url_asks_for_a_manual_copy(tmp_path):
    spec = DATASETS["imdb_word_small"]
    dest = tmp_path / "raw" / spec.source / spec.raw_files[0].name
    with pytest.raises(MissingRawFileError) as info:
        download_raw_file(spec.raw_files[0], dest, progress=False)
    assert "no public download URL" in str(info.value) and f"place a copy at {dest}" in str(info.value)


def test_preparing_without_raw_files_names_the_file_url_and_path(tmp_path):
    raw_dir = tmp_path / "raw/mnist"
    with pytest.raises(MissingRawFileError) as info:
        prepare_dataset("mnist_test_small", raw_dir, 0)
    message = str(info.value)
    assert f"place a copy at {raw_dir / 't10k-images-idx3-ubyte.gz'}" in message
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz" in message
    assert not raw_dir.exists()


def test_every_downloaded_dataset_pins_a_checksum_per_file():
    for name, spec in DATASETS.items():
        for raw in spec.raw_files:
            assert raw.algorithm in ("md5", "sha256"), name
            assert len(raw.checksum) == {"md5": 32, "sha256": 64}[raw.algorithm], name
            assert all(u.startswith(("https://", "http://")) for u in raw.urls), name
            assert raw.urls or raw.note, f"{name}: a file without URL must say where it comes from"


def test_require_raw_files_records_sources(tmp_path, monkeypatch):
    spec = DATASETS["newsgroups20_w100"]
    raw_dir = tmp_path / "raw/newsgroups20_w100"
    raw_dir.mkdir(parents=True)
    (raw_dir / "20news_w100.mat").write_bytes(PAYLOAD)
    monkeypatch.setattr(
        spec,
        "raw_files",
        (RawFile("20news_w100.mat", ("https://x/20news_w100.mat",), "sha256", sha256(PAYLOAD)),),
    )
    (entry,) = require_raw_files(spec, raw_dir)
    assert entry == {
        "name": "20news_w100.mat",
        "url": "https://x/20news_w100.mat",
        "algorithm": "sha256",
        "checksum": sha256(PAYLOAD),
        "bytes": len(PAYLOAD),
    }

"""``kogner data fetch`` against a local HTTP mirror of the data directory on 127.0.0.1."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kogner.cli import main
from kogner.datasets import DATASETS, RemoteFile
from kogner.fetch import FetchError, fetch_dataset, fetch_file, sha256_of


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """A static file handler that honours ``Range: bytes=N-`` (http.server does not) and logs ranges."""

    ranges: list[str | None] = []

    def send_head(self):  # noqa: ANN201 - http.server's own signature
        self.ranges.append(self.headers.get("Range"))
        path = Path(self.translate_path(self.path))
        wanted = self.headers.get("Range", "")
        if not wanted.startswith("bytes=") or not path.is_file():
            return super().send_head()
        start = int(wanted.removeprefix("bytes=").rstrip("-"))
        size = path.stat().st_size
        if start >= size:
            self.send_error(416)
            return None
        stream = path.open("rb")
        stream.seek(start)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.send_header("Content-Length", str(size - start))
        self.end_headers()
        return stream

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 for ``directory``; yields its base URL."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(RangeHandler, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def mirror(data_dir: Path) -> Iterator[str]:
    with serve(data_dir) as url:
        yield url


def test_fetch_downloads_verified_files_and_list_shows_them(mirror: str, tmp_path: Path, capsys) -> None:
    assert main(["data", "list", "--data-dir", str(tmp_path)]) == 0
    assert '"present": false' in capsys.readouterr().out
    assert main(["data", "fetch", "bc5cdr", "medline-sample", "--base-url", mirror, "--data-dir", str(tmp_path)]) == 0
    for name in ("bc5cdr", "medline-sample"):
        assert DATASETS[name].present(tmp_path)
        for remote in DATASETS[name].files:
            assert sha256_of(tmp_path / remote.path) == remote.sha256
    assert not list(tmp_path.rglob("*.part"))
    assert not DATASETS["biored"].present(tmp_path)


def test_fetch_resumes_a_partial_download_with_a_range_request(mirror: str, data_dir: Path, tmp_path: Path) -> None:
    remote = DATASETS["ncbi-disease"].files[2]
    original = (data_dir / remote.path).read_bytes()
    part = tmp_path / Path(remote.path).parent / f".{Path(remote.path).name}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(original[:100_000])
    RangeHandler.ranges.clear()
    fetch_dataset("ncbi-disease", tmp_path, mirror)
    assert "bytes=100000-" in RangeHandler.ranges
    assert (tmp_path / remote.path).read_bytes() == original
    fetch_dataset("ncbi-disease", tmp_path, mirror)  # present and verified: nothing downloaded again
    assert len(RangeHandler.ranges) == 3


def test_a_corrupt_download_fails_its_checksum_and_leaves_nothing(mirror: str, data_dir: Path, tmp_path: Path) -> None:
    remote = DATASETS["gnormplus"].files[0]
    part = tmp_path / Path(remote.path).parent / f".{Path(remote.path).name}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"X" * 1000)
    with pytest.raises(FetchError, match="sha256"):
        fetch_dataset("gnormplus", tmp_path, mirror)
    assert not (tmp_path / remote.path).exists() and not part.exists()
    assert main(["data", "fetch", "gnormplus", "--base-url", mirror + "/missing", "--data-dir", str(tmp_path)]) == 2


def test_a_file_released_inside_a_zip_archive_is_extracted(data_dir: Path, tmp_path: Path) -> None:
    remote = DATASETS["biored"].files[1]
    release = tmp_path / "release"
    release.mkdir()
    with zipfile.ZipFile(release / "BIORED.zip", "w") as bundle:
        bundle.write(data_dir / remote.path, remote.member)
        bundle.writestr("BioRED/README.txt", "other member")
    target = tmp_path / "data" / remote.path
    with serve(release) as url:
        archive = fetch_file(RemoteFile(remote.path, remote.sha256, f"{url}/BIORED.zip", remote.member), target)
        assert sha256_of(target) == remote.sha256
        assert archive is not None and zipfile.is_zipfile(archive)  # kept for the dataset's other members
        with pytest.raises(FetchError, match="cannot extract BioRED/Test.PubTator"):
            fetch_file(RemoteFile(remote.path, remote.sha256, f"{url}/BIORED.zip", "BioRED/Test.PubTator"), target)

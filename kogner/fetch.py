"""Downloading registered datasets into the data directory.

Each file of a dataset (kogner.datasets.RemoteFile) is downloaded to ``<target>.part``,
resuming an interrupted download with an HTTP Range request, then (for files released
inside a zip archive) extracted, checked against its sha256 and renamed onto its place, so a
file in the data directory is always complete and verified. ``base_url`` replaces the
official sources with a mirror laid out like the data directory (``<base_url>/<path>``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from tqdm import tqdm

from kogner.datadir import data_dir as resolve_data_dir
from kogner.datasets import RemoteFile, get_dataset
from kogner.errors import KognerError
from kogner.io import atomic_path

log = logging.getLogger(__name__)
CHUNK = 1 << 16


class FetchError(KognerError):
    """A download that failed or did not match its checksum."""


def fetch_dataset(
    name: str, data_dir: str | Path | None = None, base_url: str | None = None, force: bool = False
) -> list[Path]:
    """Download every file of dataset ``name`` that is missing (or all with ``force``); returns the paths."""
    root = resolve_data_dir(data_dir)
    paths, archives = [], set()
    for remote in get_dataset(name).files:
        target = root / remote.path
        if target.is_file() and not force and sha256_of(target) == remote.sha256:
            log.info("%s: present and verified", target)
        else:
            archives.add(fetch_file(remote, target, base_url))
        paths.append(target)
    for archive in archives - {None}:
        archive.unlink(missing_ok=True)
    return paths


def fetch_file(remote: RemoteFile, target: Path, base_url: str | None = None) -> Path | None:
    """Download ``remote`` to ``target`` (resumable, verified, atomic). A zip archive it was
    extracted from is kept (for the dataset's other files) and returned; the caller removes it."""
    url = f"{base_url.rstrip('/')}/{remote.path}" if base_url else remote.url
    member = None if base_url else remote.member
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{Path(url).name}.part" if member else f".{target.name}.part")
    if not (member and zipfile.is_zipfile(part)):
        _download(url, part)
    with atomic_path(target) as tmp:
        if member:
            _extract(part, member, tmp, url)
        else:
            os.replace(part, tmp)
        digest = sha256_of(tmp)
        if digest != remote.sha256:
            part.unlink(missing_ok=True)
            raise FetchError(f"{url}: sha256 {digest} does not match the expected {remote.sha256}; download removed")
    log.info("%s: downloaded from %s and verified", target, url)
    return part if member else None


def _download(url: str, part: Path) -> None:
    """Download ``url`` into ``part``, continuing from the bytes already there."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            resumed = response.status == 206
            total = response.headers.get("Content-Length")
            size = int(total) + (have if resumed else 0) if total else None
            with (
                part.open("ab" if resumed else "wb") as out,
                tqdm(
                    total=size, initial=have if resumed else 0, unit="B", unit_scale=True, desc=part.name, leave=False
                ) as progress,
            ):
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    progress.update(len(chunk))
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # the part file already holds the whole file
            return
        raise FetchError(f"{url}: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        raise FetchError(f"{url}: {getattr(error, 'reason', error)} (partial download kept for resuming)") from None


def _extract(archive: Path, member: str, out: Path, url: str) -> None:
    try:
        with zipfile.ZipFile(archive) as bundle, bundle.open(member) as source, out.open("wb") as sink:
            shutil.copyfileobj(source, sink)
    except (zipfile.BadZipFile, KeyError) as error:
        archive.unlink()
        raise FetchError(f"{url}: cannot extract {member}: {error}") from None


def sha256_of(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()

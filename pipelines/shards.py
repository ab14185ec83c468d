"""Shards: finding them, checksums, and committing one output set per shard atomically.

A shard's outputs are written into a staging directory ``OUT/.<name>.tmp-<run_id>/`` and
moved to ``OUT/<name>/`` when complete. On a local (or other hierarchical) filesystem the
move is one directory rename, so a partial shard is never visible; on object stores
(``gs://``, ``s3://``), which have no directories, files are moved one by one with
``manifest.json`` last: a shard is complete exactly when its manifest exists, and an
output directory without one is cleared before the shard is redone.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.localfilesystem import LocalFileSystem

from pipelines.io import guess_format, read_json, shard_name

MANIFEST = "manifest.json"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shard:
    """One input file and the name of its output directory."""

    path: str
    name: str
    format: str


def find_shards(patterns: list[str], fmt: str | None = None) -> list[Shard]:
    """Every file matching ``patterns`` (globs on any Beam filesystem), sorted by path.

    Two inputs with the same output name would overwrite each other, so that is an error."""
    paths: set[str] = set()
    for result in FileSystems.match(patterns):
        if not result.metadata_list:
            raise FileNotFoundError(f"no input matches {result.pattern!r}")
        paths.update(m.path for m in result.metadata_list if not _is_hidden(m.path))
    shards = [Shard(path, shard_name(path), fmt or guess_format(path)) for path in sorted(paths)]
    by_name: dict[str, str] = {}
    for shard in shards:
        if shard.name in by_name:
            raise ValueError(f"inputs {by_name[shard.name]} and {shard.path} would both write shard {shard.name!r}")
        by_name[shard.name] = shard.path
    return shards


def _is_hidden(path: str) -> bool:
    return path.rstrip("/").rsplit("/", 1)[-1].startswith(".")


def checksum(path: str) -> tuple[str, int]:
    """sha256 (hex) and size in bytes of the file as stored (compressed bytes for .gz)."""
    digest = hashlib.sha256()
    size = 0
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def shard_dir(output_dir: str, name: str) -> str:
    return FileSystems.join(output_dir, name)


def staging_dir(output_dir: str, name: str, run_id: str) -> str:
    return FileSystems.join(output_dir, f".{name}.tmp-{run_id}")


def manifest_path(output_dir: str, name: str) -> str:
    return FileSystems.join(shard_dir(output_dir, name), MANIFEST)


def read_manifest(output_dir: str, name: str) -> dict | None:
    """The shard's manifest when the shard is complete, else None."""
    path = manifest_path(output_dir, name)
    return read_json(path) if FileSystems.exists(path) else None


def clear_incomplete(output_dir: str, name: str) -> None:
    """Remove what an interrupted run of shard ``name`` left: staging directories and an
    output directory without manifest."""
    staged = _match_or_empty(FileSystems.join(output_dir, f".{name}.tmp-*", "*"))
    leftovers = sorted({FileSystems.split(path)[0] for path in staged})
    final = shard_dir(output_dir, name)
    if FileSystems.exists(final) and not FileSystems.exists(manifest_path(output_dir, name)):
        leftovers.append(final)
    for path in leftovers:
        log.warning("removing incomplete output %s", path)
        _delete_tree(path)


def commit(staging: str, final: str, files: list[str]) -> None:
    """Move the staged shard outputs ``files`` (``MANIFEST`` among them) to ``final``."""
    if has_directories(final):
        FileSystems.rename([staging], [final])
        return
    FileSystems.mkdirs(final)  # a no-op on object stores
    ordered = sorted(files, key=lambda name: name == MANIFEST)
    FileSystems.rename(
        [FileSystems.join(staging, name) for name in ordered],
        [FileSystems.join(final, name) for name in ordered],
    )
    _delete_tree(staging)


def has_directories(path: str) -> bool:
    """Whether ``path`` is on a filesystem with real directories (renamed in one step)."""
    return isinstance(FileSystems.get_filesystem(path), LocalFileSystem)


def _match_or_empty(pattern: str) -> list[str]:
    result = FileSystems.match([pattern])[0]
    return [m.path for m in result.metadata_list]


def _delete_tree(path: str) -> None:
    """Delete ``path``: a local directory at once, an object-store prefix object by object."""
    if has_directories(path):
        FileSystems.delete([path])
        return
    objects = _match_or_empty(FileSystems.join(path, "*"))
    if objects:
        FileSystems.delete(objects)

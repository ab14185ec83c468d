"""Opening corpus inputs: paths (gzip-compressed when named ``*.gz``) or binary file objects,
read as numbered UTF-8 lines so every error can name its file and line."""

from __future__ import annotations

import contextlib
import gzip
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from kogner.errors import InputFormatError

Source = str | os.PathLike[str] | BinaryIO


@dataclass
class Input:
    """An opened corpus input: its binary stream and the name errors should use."""

    stream: BinaryIO
    name: str

    def lines(self) -> Iterator[tuple[int, str]]:
        """(1-based line number, line without its end of line) for every line, decoded as UTF-8."""
        for number, raw in enumerate(self.stream, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise InputFormatError(
                    self.name, number, f"not UTF-8 (byte {raw[error.start]:#04x} at column {error.start + 1})"
                ) from None
            yield number, line.rstrip("\r\n")


def source_name(source: Source, name: str | None = None) -> str:
    """The name errors use for ``source``: ``name``, the path, or the file object's name."""
    if name:
        return name
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    return str(getattr(source, "name", "<stream>"))


@contextlib.contextmanager
def open_input(source: Source, name: str | None = None) -> Iterator[Input]:
    """Open ``source`` for reading; ``.gz`` paths are decompressed, file objects used as they are."""
    label = source_name(source, name)
    if not isinstance(source, str | os.PathLike):
        yield Input(source, label)
        return
    path = Path(source)
    if not path.is_file():
        raise InputFormatError(label, None, "no such file")
    with path.open("rb") as raw:
        if path.suffix == ".gz":
            with gzip.GzipFile(fileobj=raw) as stream:
                yield Input(stream, label)  # type: ignore[arg-type]
        else:
            yield Input(raw, label)


def peek(source: Source, size: int = 4096) -> bytes:
    """The first ``size`` bytes of a path (decompressed for ``.gz``), for format guessing."""
    path = Path(source)  # type: ignore[arg-type]
    if not path.is_file():
        raise InputFormatError(str(path), None, "no such file")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as stream:
                return stream.read(size)
        with path.open("rb") as stream:
            return stream.read(size)
    except (OSError, EOFError) as error:
        raise InputFormatError(str(path), None, f"cannot read: {error}") from None

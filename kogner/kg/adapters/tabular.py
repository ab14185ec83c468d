"""Shared reader for delimited files with a header row: (line number, {column: value})."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from kogner.errors import InputFormatError
from kogner.kg.sources import open_text


def header_rows(
    path: Path, delimiter: str = "\t", required: tuple[str, ...] = (), skip_lines: int = 0, quoting: bool = False
) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a delimited file as dicts keyed by its header (after ``skip_lines`` lines).

    ``quoting`` enables CSV quote handling; tab files are read without it (quotes are data)."""
    with open_text(path) as handle:
        for _ in range(skip_lines):
            handle.readline()
        reader = csv.reader(handle, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE)
        try:
            header = [name.lstrip("#").strip() for name in next(reader)]
        except StopIteration:
            raise InputFormatError(path, "line 1", "empty file") from None
        missing = [name for name in required if name not in header]
        if missing:
            raise InputFormatError(path, f"line {skip_lines + 1}", f"missing columns {missing} in header {header[:8]}")
        try:
            for row in reader:
                if not row or row == [""]:
                    continue
                if len(row) != len(header):
                    raise InputFormatError(
                        path, f"line {reader.line_num + skip_lines}", f"expected {len(header)} fields, got {len(row)}"
                    )
                yield reader.line_num + skip_lines, dict(zip(header, row, strict=True))
        except csv.Error as error:
            raise InputFormatError(path, f"line {reader.line_num + skip_lines}", str(error)) from None

"""JSON Lines: one ``Document.to_dict()`` object per line, the project's own interchange format."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import TextIO

from kogner.corpora.source import Input
from kogner.documents import Document
from kogner.errors import InputFormatError


def read_jsonl(source: Input) -> Iterator[Document]:
    """One document per non-blank line."""
    count = 0
    for number, line in source.lines():
        if not line.strip():
            continue
        try:
            document = Document.from_dict(json.loads(line))
        except (ValueError, KeyError, TypeError) as error:
            raise InputFormatError(source.name, number, f"not a JSON document: {error}") from None
        count += 1
        yield document
    if count == 0:
        raise InputFormatError(source.name, None, "no document in the file (empty file?)")


def write_jsonl(documents: Iterable[Document], out: TextIO) -> None:
    for document in documents:
        out.write(json.dumps(document.to_dict(), ensure_ascii=False) + "\n")

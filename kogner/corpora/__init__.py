"""Corpus readers and writers behind one pair of functions, ``read_corpus`` and ``write_corpus``.

Formats: "pubtator", "bioc-xml", "bioc-json", "conll", "pubmed-xml", "jsonl" (see each module).
Without a format, a path's format is guessed from its extension, then from its first bytes.
Malformed input raises ``InputFormatError`` naming the file and the line or PMID.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from kogner.corpora.bioc import read_bioc_json, read_bioc_xml, write_bioc_json, write_bioc_xml
from kogner.corpora.conll import read_conll, write_conll
from kogner.corpora.jsonl import read_jsonl, write_jsonl
from kogner.corpora.offsets import MISMATCH_POLICIES
from kogner.corpora.pubmed import read_pubmed
from kogner.corpora.pubtator import read_pubtator, write_pubtator
from kogner.corpora.source import Source, open_input, peek, source_name
from kogner.documents import Document
from kogner.errors import InputFormatError
from kogner.io import atomic_path

READERS: dict[str, Callable[..., Iterator[Document]]] = {
    "pubtator": read_pubtator,
    "bioc-xml": read_bioc_xml,
    "bioc-json": read_bioc_json,
    "conll": read_conll,
    "pubmed-xml": read_pubmed,
    "jsonl": read_jsonl,
}
WRITERS: dict[str, Callable[[Iterable[Document], TextIO], None]] = {
    "pubtator": write_pubtator,
    "bioc-xml": write_bioc_xml,
    "bioc-json": write_bioc_json,
    "conll": write_conll,
    "jsonl": write_jsonl,
}
FORMATS = tuple(READERS)

_EXTENSIONS = {
    ".pubtator": "pubtator",
    ".jsonl": "jsonl",
    ".tsv": "conll",
    ".conll": "conll",
    ".iob": "conll",
    ".bioc": "bioc-xml",
}


def read_corpus(
    source: Source,
    format: str | None = None,
    *,
    name: str | None = None,
    mismatch: str = "error",
    on_deleted: Callable[[list[str]], None] | None = None,
) -> Iterator[Document]:
    """The documents of ``source`` (a path, or a binary file object with ``format`` given).

    ``name`` is what errors call the input (default: the path). ``mismatch`` ("error" or
    "repair") says what a mention whose text differs from the document text at its offsets
    does (kogner.corpora.offsets). For "pubmed-xml", ``on_deleted`` receives the PMIDs of
    every DeleteCitation block (they are logged too).
    """
    label = source_name(source, name)
    if format is None:
        if not isinstance(source, str | os.PathLike):
            raise InputFormatError(label, None, "the format must be given for a file object")
        format = guess_format(source)
    if format not in READERS:
        raise InputFormatError(label, None, f"unknown corpus format {format!r} (known: {', '.join(FORMATS)})")
    if mismatch not in MISMATCH_POLICIES:
        raise ValueError(f"mismatch must be one of {MISMATCH_POLICIES}, not {mismatch!r}")
    if isinstance(source, str | os.PathLike) and not Path(source).is_file():
        raise InputFormatError(label, None, "no such file")
    options: dict[str, Any] = {}
    if format in ("pubtator", "bioc-xml", "bioc-json"):
        options["mismatch"] = mismatch
    if format == "pubmed-xml":
        options["on_deleted"] = on_deleted  # other formats have no deletions to report
    return _read(source, format, label, options)


def _read(source: Source, format: str, label: str, options: dict[str, Any]) -> Iterator[Document]:
    with open_input(source, label) as opened:
        try:
            yield from READERS[format](opened, **options)
        except (EOFError, OSError) as error:  # truncated or corrupt gzip stream
            raise InputFormatError(label, None, f"cannot read: {error}") from None


def write_corpus(documents: Iterable[Document], path: str | os.PathLike[str], format: str) -> int:
    """Write ``documents`` to ``path`` atomically in ``format``; returns how many were written."""
    if format not in WRITERS:
        raise InputFormatError(str(path), None, f"cannot write format {format!r} (writable: {', '.join(WRITERS)})")
    count = 0

    def counted() -> Iterator[Document]:
        nonlocal count
        for document in documents:
            count += 1
            yield document

    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as out:
        WRITERS[format](counted(), out)
    return count


def guess_format(path: str | os.PathLike[str]) -> str:
    """The format of ``path`` from its extension, else from its first bytes."""
    name = Path(path).name.lower().removesuffix(".gz")
    extension = Path(name).suffix
    if extension in _EXTENSIONS:
        return _EXTENSIONS[extension]
    head = peek(path)
    if not head.strip():
        raise InputFormatError(str(path), None, "empty file")
    try:
        text = head.decode("utf-8", errors="strict" if len(head) < 4096 else "ignore").lstrip("\ufeff").lstrip()
    except UnicodeDecodeError:
        raise InputFormatError(str(path), 1, "not UTF-8; cannot tell the corpus format") from None
    return _format_of_text(str(path), text)


def _format_of_text(path: str, text: str) -> str:
    first_line = text.splitlines()[0]
    if text.startswith("<"):
        if re.search(r"<(PubmedArticleSet|MedlineCitationSet|PubmedArticle|MedlineCitation)\b", text):
            return "pubmed-xml"
        if re.search(r"<collection\b", text):
            return "bioc-xml"
    elif text.startswith("{"):
        if first_line.rstrip().endswith("}") and '"passages"' in first_line:
            return "jsonl"
        return "bioc-json"
    elif re.match(r"^[^|\t]+\|[ta]\|", first_line):
        return "pubtator"
    elif re.match(r"^\S+(\t|\s+)(O|[BIES]-\S+)\s*$", first_line):
        return "conll"
    raise InputFormatError(path, 1, f"cannot tell the corpus format (known: {', '.join(FORMATS)})")

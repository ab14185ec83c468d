"""CoNLL two-column IOB files (token TAB tag, a blank line between sentences).

Reading: every sentence becomes one document (id ``<n>``, the sentence number from 1, or
``<docid>-<n>`` after a ``-DOCSTART-`` line naming a document) with one passage of kind
"sentence" whose text is the tokens joined by single spaces. Tags are decoded into mentions
exactly as seqeval's default (CoNLL) mode does: IOB2, IOB1 (``I-`` opens a mention) and IOBES
tags all work, and a change of type ends a mention.

Writing: each passage is split into sentences (kogner.text.sentence_spans) and words
(kogner.text.word_spans) and tagged IOB2; a word inside a mention gets its tag, so mentions
that do not fall on word boundaries grow to whole words; of overlapping mentions the first
written wins (IOB cannot nest) and the others are counted in a warning.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from typing import TextIO

from kogner.corpora.source import Input
from kogner.documents import Document, Mention, Passage
from kogner.errors import InputFormatError
from kogner.text import sentence_spans, word_spans

log = logging.getLogger(__name__)

_TAG = re.compile(r"^(O|[BIES](-.+)?)$")


def decode_tags(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, first token, last token) of every entity, as seqeval.get_entities decodes them."""
    chunks: list[tuple[str, int, int]] = []
    prev_tag, prev_type, begin = "O", "", 0
    for index, label in enumerate([*tags, "O"]):
        tag = label[0]
        type_ = label[1:].split("-", maxsplit=1)[-1] or "_"
        if _chunk_ends(prev_tag, tag, prev_type, type_):
            chunks.append((prev_type, begin, index - 1))
        if _chunk_starts(prev_tag, tag, prev_type, type_):
            begin = index
        prev_tag, prev_type = tag, type_
    return chunks


def _chunk_ends(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    return (
        prev_tag in ("E", "S")
        or (prev_tag in ("B", "I") and tag in ("B", "S", "O"))
        or (prev_tag != "O" and prev_type != type_)
    )


def _chunk_starts(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    return (
        tag in ("B", "S") or (prev_tag in ("E", "S", "O") and tag in ("E", "I")) or (tag != "O" and prev_type != type_)
    )


def read_conll(source: Input) -> Iterator[Document]:
    """One document per sentence of a two-column IOB file."""
    tokens: list[str] = []
    tags: list[str] = []
    prefix, count = "", 0
    for number, line in source.lines():
        if not line.strip():
            if tokens:
                count += 1
                yield _sentence_document(f"{prefix}{count}", tokens, tags)
                tokens, tags = [], []
            continue
        columns = line.split("\t") if "\t" in line else line.split()
        if columns[0] == "-DOCSTART-":
            prefix = f"{columns[1]}-" if len(columns) > 2 and columns[1] not in ("O", "-X-") else prefix
            continue
        if len(columns) < 2 or not _TAG.match(columns[-1]):
            raise InputFormatError(source.name, number, f"expected 'token<TAB>IOB tag', got {line[:80]!r}")
        tokens.append(columns[0])
        tags.append(columns[-1])
    if tokens:
        count += 1
        yield _sentence_document(f"{prefix}{count}", tokens, tags)
    if count == 0:
        raise InputFormatError(source.name, None, "no sentence in the file (empty file?)")


def _sentence_document(doc_id: str, tokens: list[str], tags: list[str]) -> Document:
    starts: list[int] = []
    cursor = 0
    for token in tokens:
        starts.append(cursor)
        cursor += len(token) + 1
    text = " ".join(tokens)
    mentions = []
    for type_, first, last in decode_tags(tags):
        start, end = starts[first], starts[last] + len(tokens[last])
        mentions.append(Mention(start, end, text[start:end], type_))
    return Document(doc_id, [Passage("sentence", 0, text)], mentions)


def document_tags(document: Document) -> list[list[tuple[str, str]]]:
    """The (token, IOB2 tag) sentences of ``document``."""
    text = document.text
    sentences: list[list[tuple[int, int]]] = []
    for passage in document.passages:
        for start, end in sentence_spans(passage.text):
            words = [
                (passage.offset + start + s, passage.offset + start + e) for s, e in word_spans(passage.text[start:end])
            ]
            if words:
                sentences.append(words)
    words = [word for sentence in sentences for word in sentence]
    labels = ["O"] * len(words)
    skipped = 0
    for mention in document.mentions:
        covered = [i for i, (start, end) in enumerate(words) if start < mention.end and end > mention.start]
        if not covered or any(labels[i] != "O" for i in covered):
            skipped += 1
            continue
        for position, index in enumerate(covered):
            labels[index] = f"{'B' if position == 0 else 'I'}-{mention.type}"
    if skipped:
        log.warning(
            "document %s: %d mention(s) overlap others or no word; left out of the IOB tags", document.id, skipped
        )
    result: list[list[tuple[str, str]]] = []
    index = 0
    for sentence in sentences:
        result.append([(text[start:end], labels[index + i]) for i, (start, end) in enumerate(sentence)])
        index += len(sentence)
    return result


def write_conll(documents: Iterable[Document], out: TextIO) -> None:
    """Write ``documents`` as two-column IOB2, a blank line after every sentence."""
    for document in documents:
        for sentence in document_tags(document):
            out.writelines(f"{token}\t{tag}\n" for token, tag in sentence)
            out.write("\n")

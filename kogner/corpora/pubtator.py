"""PubTator: ``PMID|t|title``, ``PMID|a|abstract``, then tab-separated annotation lines.

Mention lines: ``PMID start end text type [ids [individual mentions]]`` (ids composite or
``-1``; the 7th column of BC5CDR composite mentions is kept as the attribute
``individual_mentions``; GNormPlus writes 5 columns for mentions without id). Relation lines:
``PMID type id1 id2`` (BC5CDR ``CID``) or ``PMID type id1 id2 novelty`` (BioRED), read as a
Relation with args ``entity1``/``entity2`` and the attribute ``novel``.

The document text is ``title + " " + abstract`` (passages "title" at 0 and "abstract" at
``len(title) + 1``); every mention's text must equal the text at its offsets
(kogner.corpora.offsets).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TextIO

from kogner.corpora.ids import join_ids, split_ids
from kogner.corpora.offsets import checked_span
from kogner.corpora.source import Input
from kogner.documents import Document, Mention, Passage, Relation
from kogner.errors import InputFormatError

_TEXT_LINE = re.compile(r"^([^|\t]+)\|([ta])\|(.*)$")
_INT = re.compile(r"^\d+$")


def read_pubtator(source: Input, mismatch: str = "error") -> Iterator[Document]:
    """Documents of a PubTator file, in file order (``mismatch``: see kogner.corpora.offsets)."""
    builder: _DocumentBuilder | None = None
    for number, line in source.lines():
        where = number
        if not line.strip():
            continue
        text_line = _TEXT_LINE.match(line)
        if text_line:
            doc_id, kind, text = text_line.groups()
            if builder is not None and (kind == "t" or doc_id != builder.doc_id):
                yield builder.finish(source.name)
                builder = None
            if builder is None:
                builder = _DocumentBuilder(doc_id)
            builder.add_text(kind, text, source.name, where)
            continue
        fields = line.split("\t")
        if builder is None or fields[0] != builder.doc_id:
            known = builder.doc_id if builder else "none"
            raise InputFormatError(source.name, where, f"annotation for {fields[0]!r} outside its document ({known})")
        if len(fields) >= 5 and _INT.match(fields[1]) and _INT.match(fields[2]):
            builder.add_mention(fields, source.name, where, mismatch)
        elif len(fields) in (4, 5):
            attributes = {"novel": fields[4]} if len(fields) == 5 else {}
            builder.relations.append(
                Relation(type=fields[1], args={"entity1": fields[2], "entity2": fields[3]}, attributes=attributes)
            )
        else:
            raise InputFormatError(source.name, where, f"not a PubTator text, mention or relation line: {line[:80]!r}")
    if builder is None:
        raise InputFormatError(source.name, None, "no PubTator document in the file (empty file?)")
    yield builder.finish(source.name)


class _DocumentBuilder:
    """Collects one document's lines and checks them as they come."""

    def __init__(self, doc_id: str) -> None:
        self.doc_id = doc_id
        self.title: str | None = None
        self.abstract: str | None = None
        self.text = ""
        self.mentions: list[Mention] = []
        self.relations: list[Relation] = []

    def add_text(self, kind: str, text: str, name: str, where: str) -> None:
        if kind == "t":
            self.title = text
        elif self.abstract is not None or self.title is None or self.mentions:
            raise InputFormatError(name, where, f"document {self.doc_id}: abstract line out of place")
        else:
            self.abstract = text
        self.text = self.title if self.abstract is None else f"{self.title} {self.abstract}"

    def add_mention(self, fields: list[str], name: str, where: int, mismatch: str) -> None:
        span = checked_span(self.text, int(fields[1]), int(fields[2]), fields[3], mismatch, name, where)
        if span is None:
            return
        attributes = {"individual_mentions": fields[6]} if len(fields) > 6 and fields[6] else {}
        ids = split_ids(fields[5]) if len(fields) > 5 else []
        self.mentions.append(Mention(*span, fields[4], ids, attributes=attributes))

    def finish(self, name: str) -> Document:
        if self.title is None:
            raise InputFormatError(name, f"PMID {self.doc_id}", "document without a title line")
        passages = [Passage("title", 0, self.title)]
        if self.abstract is not None:
            passages.append(Passage("abstract", len(self.title) + 1, self.abstract))
        return Document(self.doc_id, passages, self.mentions, self.relations)


def write_pubtator(documents: Iterable[Document], out: TextIO) -> None:
    """Write ``documents`` as PubTator: the first passage is the title, the rest of the text the abstract."""
    for document in documents:
        text = document.text
        title = document.passages[0].text if document.passages else ""
        if document.passages and document.passages[0].offset != 0:
            title = ""
        abstract = text[len(title) + 1 :]
        for kind, value in (("t", title), ("a", abstract)):
            out.write(f"{document.id}|{kind}|{value.replace(chr(10), ' ')}\n")
        for mention in document.mentions:
            fields = [document.id, str(mention.start), str(mention.end), mention.text, mention.type]
            fields.append(join_ids(mention.ids))
            if "individual_mentions" in mention.attributes:
                fields.append(mention.attributes["individual_mentions"])
            out.write("\t".join(fields) + "\n")
        for relation in document.relations:
            fields = [document.id, relation.type, *relation.args.values()]
            if "novel" in relation.attributes:
                fields.append(relation.attributes["novel"])
            out.write("\t".join(fields) + "\n")
        out.write("\n")

"""The one document model of the project: documents, passages, mentions and relations.

All offsets are character offsets into ``Document.text``, the document text built by
placing each passage's text at its offset (gaps filled with spaces). For PubTator this is
``title + " " + abstract``, exactly the text PubTator offsets refer to.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass
class Mention:
    """An entity mention: ``text == document.text[start:end]``; ``ids`` may be empty."""

    start: int
    end: int
    text: str
    type: str
    ids: list[str] = field(default_factory=list)
    id: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class Relation:
    """A relation between concepts or mentions, e.g. BC5CDR's CID or BioRED's Association."""

    type: str
    args: dict[str, str]
    id: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class Passage:
    """A piece of the document (title, abstract, a body section) at ``offset`` in the text."""

    kind: str
    offset: int
    text: str
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def end(self) -> int:
        return self.offset + len(self.text)


@dataclass
class Document:
    """A document with its passages, mentions and relations."""

    id: str
    passages: list[Passage] = field(default_factory=list)
    mentions: list[Mention] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The full document text that all mention offsets refer to."""
        parts: list[str] = []
        cursor = 0
        for passage in sorted(self.passages, key=lambda p: p.offset):
            if passage.offset < cursor:
                raise ValueError(f"document {self.id}: passage at {passage.offset} overlaps the previous one")
            parts.append(" " * (passage.offset - cursor))
            parts.append(passage.text)
            cursor = passage.end
        return "".join(parts)

    def passage_at(self, offset: int) -> Passage | None:
        """The passage containing character ``offset``, if any."""
        for passage in self.passages:
            if passage.offset <= offset < passage.end:
                return passage
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Document:
        return cls(
            id=str(data["id"]),
            passages=[Passage(**p) for p in data.get("passages", [])],
            mentions=[Mention(**m) for m in data.get("mentions", [])],
            relations=[Relation(**r) for r in data.get("relations", [])],
            metadata=dict(data.get("metadata", {})),
        )

    @classmethod
    def from_text(cls, doc_id: str, text: str, kind: str = "text") -> Document:
        """A document of one passage, for raw text input."""
        return cls(id=doc_id, passages=[Passage(kind=kind, offset=0, text=text)])

    @classmethod
    def from_sentences(
        cls, doc_id: str, sentences: list[tuple[str, list[Mention]]], metadata: dict[str, Any] | None = None
    ) -> Document:
        """A document of ``sentences`` (each text with its mentions, offsets into that text),
        one space apart, each a "sentence" passage, the mentions shifted with it."""
        passages: list[Passage] = []
        mentions: list[Mention] = []
        offset = 0
        for text, found in sentences:
            passages.append(Passage("sentence", offset, text))
            mentions += [replace(m, start=m.start + offset, end=m.end + offset) for m in found]
            offset += len(text) + 1
        return cls(doc_id, passages, mentions, metadata=dict(metadata or {}))

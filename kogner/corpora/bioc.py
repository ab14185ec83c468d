"""BioC XML and BioC JSON (https://bioc.sourceforge.net), read and written.

Both are converted through the same dictionary shape (the BioC JSON one), so XML and JSON
mean the same thing. Offsets are document-level, as in PubTator-derived BioC files.

Mapping: passage infon ``type`` -> ``Passage.kind`` (``"passage"`` when absent), other infons
-> attributes; annotation ``id`` -> ``Mention.id``, infon ``type`` -> type, ``identifier``
(or ``MESH``, ``NCBI Gene``) -> ids (composites split as in PubTator), other infons ->
attributes; an annotation with several locations spans from the first start to the last
end and keeps them all in the attribute ``locations`` (``offset:length,...``). Relation infon
``type`` (or ``relation``) -> type, infons ``entity1``, ``entity2``, ... and nodes
(``node:ROLE`` -> refid) -> args, other infons -> attributes. Document infons <-> metadata.
Mention texts are checked against the document text (kogner.corpora.offsets).
XML is streamed (iterparse, elements cleared), so large collections read in flat memory.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any, TextIO

from kogner.corpora.ids import join_ids, split_ids
from kogner.corpora.offsets import checked_span
from kogner.corpora.source import Input
from kogner.documents import Document, Mention, Passage, Relation
from kogner.errors import InputFormatError

_ID_INFONS = ("identifier", "Identifier", "MESH", "NCBI Gene")
_ARG_INFON = re.compile(r"^entity\d+$")
BiocDict = dict[str, Any]


def read_bioc_xml(source: Input, mismatch: str = "error") -> Iterator[Document]:
    """Documents of a BioC XML collection, streamed."""
    last_id = None
    count = 0
    try:
        root = None
        for event, element in ET.iterparse(source.stream, events=("start", "end")):
            if root is None:
                root = element
            if event != "end" or element.tag != "document":
                continue
            record = _xml_document_dict(element)
            root.clear()
            last_id = record["id"]
            count += 1
            yield document_from_bioc(record, source.name, mismatch)
    except ET.ParseError as error:
        line, column = error.position
        after = f" (after document {last_id})" if last_id else ""
        raise InputFormatError(
            source.name, line, f"malformed or truncated XML at column {column}{after}: {error.msg}"
        ) from None
    if count == 0:
        raise InputFormatError(source.name, None, "no BioC document in the file")


def read_bioc_json(source: Input, mismatch: str = "error") -> Iterator[Document]:
    """Documents of a BioC JSON collection."""
    raw = source.stream.read()
    try:
        collection = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise InputFormatError(source.name, line, "not UTF-8") from None
    except json.JSONDecodeError as error:
        raise InputFormatError(source.name, error.lineno, f"not JSON: {error.msg}") from None
    documents = collection.get("documents") if isinstance(collection, dict) else None
    if not documents:
        raise InputFormatError(source.name, None, "no BioC document in the file (expected a 'documents' list)")
    for record in documents:
        yield document_from_bioc(record, source.name, mismatch)


def document_from_bioc(record: BiocDict, name: str, mismatch: str = "error") -> Document:
    """A Document from one BioC document dictionary; mention texts are checked against the text."""
    doc_id = str(record.get("id", ""))
    where = f"document {doc_id}"
    try:
        document = Document(doc_id, metadata=dict(record.get("infons") or {}))
        for passage in record.get("passages", []):
            infons = dict(passage.get("infons") or {})
            kind = infons.pop("type", "passage")
            pieces = [passage] if "text" in passage or not passage.get("sentences") else passage["sentences"]
            for piece in pieces:
                offset = int(piece.get("offset", passage.get("offset", 0)))
                document.passages.append(Passage(kind, offset, piece.get("text") or "", dict(infons)))
                document.mentions.extend(_mention(a) for a in piece.get("annotations", []))
                document.relations.extend(_relation(r) for r in piece.get("relations", []))
        document.relations.extend(_relation(r) for r in record.get("relations", []))
        text = document.text
    except (KeyError, TypeError, ValueError) as error:
        raise InputFormatError(name, where, f"malformed BioC document: {error}") from None
    checked = []
    for mention in document.mentions:
        span = checked_span(
            text, mention.start, mention.end, mention.text, mismatch, name, f"{where} annotation {mention.id}"
        )
        if span is not None:
            mention.start, mention.end, mention.text = span
            checked.append(mention)
    document.mentions = checked
    return document


def _mention(annotation: BiocDict) -> Mention:
    infons = dict(annotation.get("infons") or {})
    ids: list[str] = []
    for key in _ID_INFONS:
        if key in infons:
            ids = split_ids(infons.pop(key))
            break
    locations = [(int(loc["offset"]), int(loc["length"])) for loc in annotation.get("locations", [])]
    if not locations:
        raise ValueError(f"annotation {annotation.get('id')} has no location")
    if len(locations) > 1:
        infons["locations"] = ",".join(f"{offset}:{length}" for offset, length in locations)
    start = min(offset for offset, _ in locations)
    end = max(offset + length for offset, length in locations)
    mention_type = infons.pop("type", "")
    return Mention(start, end, annotation.get("text", ""), mention_type, ids, annotation.get("id"), infons)


def _relation(relation: BiocDict) -> Relation:
    infons = dict(relation.get("infons") or {})
    relation_type = infons.pop("type", None) or infons.pop("relation", "")
    args = {key: infons.pop(key) for key in [k for k in infons if _ARG_INFON.match(k)]}
    args.update({f"node:{node['role']}": node["refid"] for node in relation.get("nodes", [])})
    return Relation(relation_type, args, relation.get("id"), infons)


def document_to_bioc(document: Document) -> BiocDict:
    """The BioC dictionary of ``document``: mentions go into the passage holding their start."""
    passages = sorted(document.passages, key=lambda p: p.offset)
    records = [
        {"infons": {"type": p.kind, **p.attributes}, "offset": p.offset, "text": p.text, "annotations": []}
        for p in passages
    ]
    for mention in document.mentions:
        index = next((i for i, p in enumerate(passages) if p.offset <= mention.start < p.end), 0)
        records[index]["annotations"].append(_annotation_dict(mention))
    return {
        "id": document.id,
        "infons": {key: _infon_value(value) for key, value in document.metadata.items()},
        "passages": records,
        "relations": [_relation_dict(relation) for relation in document.relations],
    }


def _annotation_dict(mention: Mention) -> BiocDict:
    attributes = dict(mention.attributes)
    locations = attributes.pop("locations", None)
    if locations:
        spans = [part.split(":") for part in locations.split(",")]
        location_list = [{"offset": int(offset), "length": int(length)} for offset, length in spans]
    else:
        location_list = [{"offset": mention.start, "length": mention.end - mention.start}]
    infons = {"type": mention.type, **({"identifier": join_ids(mention.ids)} if mention.ids else {}), **attributes}
    record: BiocDict = {"infons": infons, "text": mention.text, "locations": location_list}
    if mention.id is not None:
        record["id"] = mention.id
    return record


def _relation_dict(relation: Relation) -> BiocDict:
    infons = {"type": relation.type}
    nodes = []
    for key, value in relation.args.items():
        if key.startswith("node:"):
            nodes.append({"refid": value, "role": key.removeprefix("node:")})
        else:
            infons[key] = value
    record: BiocDict = {"infons": {**infons, **relation.attributes}, "nodes": nodes}
    if relation.id is not None:
        record["id"] = relation.id
    return record


def _infon_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def write_bioc_json(documents: Iterable[Document], out: TextIO) -> None:
    """One BioC JSON collection (documents are streamed out one by one)."""
    header = {"source": "KoGNER", "date": date.today().isoformat(), "key": "BioC.key", "infons": {}}
    out.write(json.dumps(header, ensure_ascii=False)[:-1] + ', "documents": [\n')
    for index, document in enumerate(documents):
        out.write(("" if index == 0 else ",\n") + json.dumps(document_to_bioc(document), ensure_ascii=False))
    out.write("\n]}\n")


def write_bioc_xml(documents: Iterable[Document], out: TextIO) -> None:
    """One BioC XML collection (documents are streamed out one by one)."""
    out.write("<?xml version='1.0' encoding='UTF-8'?>\n<!DOCTYPE collection SYSTEM \"BioC.dtd\">\n<collection>")
    out.write(f"<source>KoGNER</source><date>{date.today().isoformat()}</date><key>BioC.key</key>\n")
    for document in documents:
        out.write(ET.tostring(_document_element(document_to_bioc(document)), encoding="unicode") + "\n")
    out.write("</collection>\n")


def _document_element(record: BiocDict) -> ET.Element:
    element = ET.Element("document")
    ET.SubElement(element, "id").text = record["id"]
    _add_infons(element, record["infons"])
    for passage in record["passages"]:
        passage_element = ET.SubElement(element, "passage")
        _add_infons(passage_element, passage["infons"])
        ET.SubElement(passage_element, "offset").text = str(passage["offset"])
        ET.SubElement(passage_element, "text").text = passage["text"]
        for annotation in passage["annotations"]:
            attributes = {"id": annotation["id"]} if "id" in annotation else {}
            annotation_element = ET.SubElement(passage_element, "annotation", attributes)
            _add_infons(annotation_element, annotation["infons"])
            for location in annotation["locations"]:
                ET.SubElement(
                    annotation_element,
                    "location",
                    {"offset": str(location["offset"]), "length": str(location["length"])},
                )
            ET.SubElement(annotation_element, "text").text = annotation["text"]
    for relation in record["relations"]:
        attributes = {"id": relation["id"]} if "id" in relation else {}
        relation_element = ET.SubElement(element, "relation", attributes)
        _add_infons(relation_element, relation["infons"])
        for node in relation["nodes"]:
            ET.SubElement(relation_element, "node", node)
    return element


def _add_infons(element: ET.Element, infons: dict[str, str]) -> None:
    for key, value in infons.items():
        ET.SubElement(element, "infon", {"key": key}).text = value


def _xml_document_dict(element: ET.Element) -> BiocDict:
    return {
        "id": element.findtext("id", ""),
        "infons": _infons(element),
        "passages": [_xml_passage_dict(p) for p in element.findall("passage")],
        "relations": [_xml_relation_dict(r) for r in element.findall("relation")],
    }


def _xml_passage_dict(element: ET.Element) -> BiocDict:
    record: BiocDict = {
        "infons": _infons(element),
        "offset": element.findtext("offset", "0"),
        "annotations": [_xml_annotation_dict(a) for a in element.findall("annotation")],
        "relations": [_xml_relation_dict(r) for r in element.findall("relation")],
        "sentences": [_xml_passage_dict(s) for s in element.findall("sentence")],
    }
    if element.find("text") is not None:
        record["text"] = element.findtext("text", "")
    return record


def _xml_annotation_dict(element: ET.Element) -> BiocDict:
    return {
        "id": element.get("id"),
        "infons": _infons(element),
        "text": element.findtext("text", ""),
        "locations": [dict(location.attrib) for location in element.findall("location")],
    }


def _xml_relation_dict(element: ET.Element) -> BiocDict:
    return {
        "id": element.get("id"),
        "infons": _infons(element),
        "nodes": [dict(node.attrib) for node in element.findall("node")],
    }


def _infons(element: ET.Element) -> dict[str, str]:
    return {infon.get("key", ""): infon.text or "" for infon in element.findall("infon")}

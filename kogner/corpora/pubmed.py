"""PubMed/MEDLINE citation XML: ``<PubmedArticleSet>`` (current baseline and update files) and
``<MedlineCitationSet>`` (older baselines), plain or gzip-compressed.

Each citation (``MedlineCitation``, or ``BookDocument`` of a PubmedBookArticle) becomes a
document with id = PMID, a "title" passage at 0 (ArticleTitle, or BookTitle) and one
"abstract" passage per AbstractText, one space apart; a labelled section reads
``"LABEL: text"`` (as PubMed displays it; not for "UNLABELLED") and keeps ``label``/``nlm_category``
as attributes; the AbstractTexts of an OtherAbstract (a translation) follow as "other_abstract"
passages with the attribute ``language``.
Metadata: ``journal``, ``year`` (publication year, a string), ``mesh`` (list of
``{"id", "name", "major"}``). The file is streamed with iterparse and every top-level
element is cleared once read, so memory stays flat on a full baseline file.

``DeleteCitation`` blocks (update files) list PMIDs to delete: they are logged and passed
to the ``on_deleted`` callback, never silently skipped.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator

from kogner.corpora.source import Input
from kogner.documents import Document, Passage
from kogner.errors import InputFormatError

log = logging.getLogger(__name__)

_CITATIONS = ("MedlineCitation", "BookDocument")
_YEAR = re.compile(r"\b(\d{4})\b")


def read_pubmed(source: Input, on_deleted: Callable[[list[str]], None] | None = None) -> Iterator[Document]:
    """Documents of a PubMed/MEDLINE XML file, streamed; DeleteCitation PMIDs go to ``on_deleted``."""
    root: ET.Element | None = None
    depth = 0
    last_pmid: str | None = None
    count = deleted = 0
    try:
        for event, element in ET.iterparse(source.stream, events=("start", "end")):
            if event == "start":
                root = element if root is None else root
                depth += 1
                continue
            depth -= 1
            if element.tag in _CITATIONS:
                document = _citation(element, source.name, count + 1)
                last_pmid = document.id
                count += 1
                yield document
            elif element.tag == "DeleteCitation":
                pmids = [pmid.text.strip() for pmid in element.findall("PMID") if pmid.text]
                deleted += len(pmids)
                log.warning("%s: DeleteCitation of %d PMID(s): %s", source.name, len(pmids), " ".join(pmids))
                if on_deleted is not None:
                    on_deleted(pmids)
            if depth == 1 and root is not None:
                root.clear()
    except ET.ParseError as error:
        line, column = error.position
        after = f" (after PMID {last_pmid})" if last_pmid else ""
        raise InputFormatError(
            source.name, line, f"malformed or truncated XML at column {column}{after}: {error.msg}"
        ) from None
    if root is None or root.tag not in ("PubmedArticleSet", "MedlineCitationSet"):
        tag = root.tag if root is not None else "nothing"
        raise InputFormatError(source.name, None, f"not PubMed XML: the root element is {tag}")
    if count == 0 and deleted == 0:
        raise InputFormatError(source.name, None, "no citation in the file")


def _citation(element: ET.Element, name: str, number: int) -> Document:
    pmid = (element.findtext("PMID") or "").strip()
    if not pmid:
        raise InputFormatError(name, f"citation {number}", "citation without a PMID")
    title = _text(element.find(".//ArticleTitle")) or _text(element.find(".//BookTitle"))
    passages = [Passage("title", 0, title)]
    cursor = len(title)
    sections = [("abstract", {}, text) for text in element.findall(".//Abstract/AbstractText")]
    for other in element.findall(".//OtherAbstract"):
        language = {"language": other.get("Language", "")}
        sections.extend(("other_abstract", language, text) for text in other.findall("AbstractText"))
    for kind, attributes, section in sections:
        text = _text(section)
        label = section.get("Label")
        if label and label != "UNLABELLED":
            text = f"{label}: {text}"
        for key, value in (("label", label), ("nlm_category", section.get("NlmCategory"))):
            if value:
                attributes = {**attributes, key: value}
        passages.append(Passage(kind, cursor + 1, text, attributes))
        cursor += 1 + len(text)
    metadata: dict[str, object] = {}
    journal = element.findtext(".//Journal/Title")
    if journal:
        metadata["journal"] = journal.strip()
    year = _year(element)
    if year:
        metadata["year"] = year
    metadata["mesh"] = [
        {"id": descriptor.get("UI", ""), "name": _text(descriptor), "major": descriptor.get("MajorTopicYN") == "Y"}
        for descriptor in element.findall(".//MeshHeadingList/MeshHeading/DescriptorName")
    ]
    return Document(pmid, passages, metadata=metadata)


def _year(element: ET.Element) -> str | None:
    for path in (
        ".//JournalIssue/PubDate/Year",
        ".//JournalIssue/PubDate/MedlineDate",
        ".//PubDate/Year",
        ".//ArticleDate/Year",
    ):
        match = _YEAR.search(element.findtext(path) or "")
        if match:
            return match.group(1)
    return None


def _text(element: ET.Element | None) -> str:
    """All text inside ``element`` (inline markup such as <i> or <sup> dropped), whitespace collapsed."""
    if element is None:
        return ""
    return " ".join("".join(element.itertext()).split())

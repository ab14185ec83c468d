"""BioC XML/JSON and PubMed XML readers and writers on the real files and a modern-format fixture."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import pytest

from kogner.corpora import read_corpus, write_corpus
from kogner.documents import Document

FIXTURES = Path(__file__).parent / "fixtures" / "corpora"
ROUND_TRIP_FILES = [
    "ner/BC5CDR/pubtator/train.txt",
    "ner/BC5CDR/pubtator/devel.txt",
    "ner/BC5CDR/pubtator/test.txt",
    "ner/BioRED/Train.PubTator",
    "ner/BioRED/Dev.PubTator",
]


def mention_rows(documents: list[Document]) -> list[tuple]:
    return [(d.id, m.start, m.end, m.text, m.type, tuple(m.ids)) for d in documents for m in d.mentions]


@pytest.fixture(scope="module")
def biored_pubtator(data_dir: Path) -> dict[str, list[Document]]:
    return {split: list(read_corpus(data_dir / f"ner/BioRED/{split}.PubTator")) for split in ("Train", "Dev")}


@pytest.mark.parametrize(
    "relative,split", [("Train.BioC.XML", "Train"), ("Dev.BioC.XML", "Dev"), ("Dev.BioC.JSON", "Dev")]
)
def test_biored_bioc_files_match_the_pubtator_release(data_dir: Path, biored_pubtator, relative: str, split: str):
    bioc = list(read_corpus(data_dir / "ner/BioRED" / relative))
    pubtator = biored_pubtator[split]
    assert [d.id for d in bioc] == [d.id for d in pubtator]
    assert [d.text for d in bioc] == [d.text for d in pubtator]
    assert mention_rows(bioc) == mention_rows(pubtator)
    assert [(r.type, r.args, r.attributes) for d in bioc for r in d.relations] == [
        (r.type, r.args, r.attributes) for d in pubtator for r in d.relations
    ]
    assert bioc[0].mentions[0].id == "0" and bioc[0].relations[0].id == "R0"
    assert {p.kind for d in bioc for p in d.passages} <= {"title", "abstract", "passage"}


@pytest.mark.parametrize(
    "relative,middle",
    [(relative, "bioc-xml") for relative in ROUND_TRIP_FILES]
    + [("ner/BC5CDR/pubtator/test.txt", "bioc-json"), ("ner/BioRED/Dev.PubTator", "bioc-json")],
)
def test_pubtator_bioc_pubtator_round_trip(data_dir: Path, tmp_path: Path, relative: str, middle: str) -> None:
    original = list(read_corpus(data_dir / relative))
    write_corpus(original, tmp_path / "middle", middle)
    through_bioc = list(read_corpus(tmp_path / "middle", middle))
    write_corpus(through_bioc, tmp_path / "back.pubtator", "pubtator")
    assert list(read_corpus(tmp_path / "back.pubtator")) == original


def test_bioc_keeps_several_locations_nodes_and_infons(tmp_path: Path) -> None:
    document = Document.from_text("d1", "hemorrhagic and cystitis")
    document.metadata = {"journal": "J"}
    bioc_text = tmp_path / "one.xml"
    bioc_text.write_text(
        '<?xml version="1.0"?><collection><source>x</source><date>d</date><key>k</key><document><id>d1</id>'
        '<infon key="journal">J</infon><passage><infon key="type">abstract</infon><infon key="section">M</infon>'
        "<offset>0</offset><text>hemorrhagic and cystitis</text>"
        '<annotation id="A"><infon key="type">Disease</infon><infon key="MESH">D006470|D003556</infon>'
        '<location offset="0" length="11"/><location offset="16" length="8"/>'
        "<text>hemorrhagic and cystitis</text></annotation></passage>"
        '<relation id="R"><infon key="relation">CID</infon><node refid="A" role="Disease"/></relation>'
        "</document></collection>",
        encoding="utf-8",
    )
    (read,) = read_corpus(bioc_text)
    mention = read.mentions[0]
    assert (mention.start, mention.end, mention.ids) == (0, 24, ["D006470", "D003556"])
    assert mention.attributes == {"locations": "0:11,16:8"}
    assert read.passages[0].attributes == {"section": "M"} and read.metadata == {"journal": "J"}
    assert (read.relations[0].type, read.relations[0].args) == ("CID", {"node:Disease": "A"})
    for format in ("bioc-xml", "bioc-json"):
        write_corpus([read], tmp_path / f"again.{format}", format)
        assert list(read_corpus(tmp_path / f"again.{format}", format)) == [read]


def test_medline_sample_citations_and_delete_citation(data_dir: Path) -> None:
    deleted: list[list[str]] = []
    documents = list(read_corpus(data_dir / "pubmed/medline16n0902.xml.gz", on_deleted=deleted.append))
    assert len(documents) == 604
    assert deleted == [["26432306"]]
    kinds = Counter(p.kind for d in documents for p in d.passages)
    assert (kinds["abstract"], kinds["other_abstract"]) == (1396, 21)  # 1417 AbstractText elements
    first = documents[0]
    assert first.id == "17942999"
    assert first.text.startswith("Neuroplasticity in the processing of pitch dimensions")
    assert first.passages[1].text.startswith("PURPOSE: An auditory electrophysiological study")
    assert first.passages[1].attributes == {"label": "PURPOSE", "nlm_category": "OBJECTIVE"}
    assert first.metadata["journal"] == "Restorative neurology and neuroscience"
    assert first.metadata["year"] == "2007"
    assert {"id": "D000161", "name": "Acoustic Stimulation", "major": False} in first.metadata["mesh"]
    assert all(d.passages[0].text for d in documents)


def test_pubmed_article_set_fixture(tmp_path: Path) -> None:
    deleted: list[list[str]] = []
    path = tmp_path / "update.xml.gz"
    path.write_bytes(gzip.compress((FIXTURES / "pubmed_article_set.xml").read_bytes()))
    documents = list(read_corpus(path, on_deleted=deleted.append))
    assert deleted == [["12345", "67890"]]
    assert [d.id for d in documents] == ["38000001", "38000002"]
    assert documents[0].text == (
        "Famotidine-associated delirium in BRCA1 carriers. BACKGROUND: Delirium is common. "
        "RESULTS: Famotidine caused delirium in 3 of 10 patients with H2 blockade."
    )
    assert documents[0].metadata["year"] == "2024"
    assert documents[0].metadata["mesh"][0] == {"id": "D003693", "name": "Delirium", "major": True}
    assert documents[1].metadata == {"journal": "Old Journal", "year": "1998", "mesh": []}
    assert len(documents[1].passages) == 1
    with path.open("rb") as handle, gzip.open(handle) as stream:
        assert len(list(read_corpus(stream, "pubmed-xml", name="shard"))) == 2

"""KG adapters on hand-written fixtures in the official formats, and end-to-end resolution."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.compute as pc
import pytest

from kogner.errors import InputFormatError
from kogner.kg import read_kg_table
from kogner.kg.adapters import FORMATS
from kogner.kg.ids import curie
from kogner.kg.ingest import ingest
from kogner.kg.records import Alias, Edge, Entity, Xref
from kogner.kg.sources import MissingSourceError, SourceSpec

FIXTURES = Path(__file__).parent / "fixtures" / "kg"


def records(fmt: str, path: str, **options) -> list:
    limit = options.pop("limit", None)
    return list(FORMATS[fmt](SourceSpec("test", fmt, FIXTURES / path, limit, options, FIXTURES)))


def of(kind: type, items: list) -> list:
    return [r for r in items if type(r) is kind]


def test_curie_spellings() -> None:
    assert curie("MSH:D003920") == "MESH:D003920"
    assert curie("HGNC:HGNC:5") == "HGNC:5"
    assert curie("DO:DOID:0060395") == "DOID:0060395"
    assert curie("UMLS_CUI:C0011860") == "UMLS:C0011860"
    assert curie("MIM:138670") == "OMIM:138670"
    assert curie("7157", "NCBIGene") == "NCBIGene:7157"


def test_obo_scopes_xrefs_relationships_and_obsolete() -> None:
    out = records("obo", "obsolete.obo")
    assert [e.entity_id for e in of(Entity, out)] == ["DOID:9352", "DOID:9351", "DOID:4"]
    t2d = of(Entity, out)[0]
    assert t2d.type == "Disease" and t2d.description == 'A diabetes characterized by "insulin resistance".'
    assert of(Entity, out)[2].name == "disease"  # trailing "! comment" stripped
    kinds = {a.alias: a.kind for a in of(Alias, out)}
    assert kinds == {
        "NIDDM": "exact_synonym",
        "adult-onset diabetes": "related_synonym",
        "diabetes": "broad_synonym",
        "MODY-like diabetes": "narrow_synonym",
        "T2DM": "abbreviation",
    }
    assert {x.xref_id for x in of(Xref, out)} == {"MESH:D003924", "UMLS:C0011860", "ICD10CM:E11", "DOID:11717"}
    assert Edge("DOID:9352", "has_material_basis_in", "DOID:0000001", 18) in out
    assert ("DOID:9352", "is_a", "DOID:9351") in [e[:3] for e in of(Edge, out)]


def test_mesh_xml_descriptors_tree_parents_and_types() -> None:
    out = records("mesh-xml", "desc2024.xml")
    entities = {e.entity_id: e for e in of(Entity, out)}
    assert entities["MESH:D003924"].type == "Disease" and entities["MESH:D001241"].type == "Chemical"
    assert entities["MESH:D003920"].description.startswith("A heterogeneous group")
    assert {a.alias for a in of(Alias, out) if a.entity_id == "MESH:D003924"} == {
        "NIDDM",
        "Type 2 Diabetes",
        "Diabetes Mellitus, Adult-Onset",
    }
    assert [e[:3] for e in of(Edge, out)] == [("MESH:D003924", "parent", "MESH:D003920")]


def test_ctd_chemicals_and_genes_share_the_reader() -> None:
    chemicals = records("ctd", "CTD_chemicals.tsv")
    assert [e.entity_id for e in of(Entity, chemicals)] == ["MESH:D001241", "MESH:D012459"]
    assert ("MESH:D001241", "parent", "MESH:D012459") in [e[:3] for e in of(Edge, chemicals)]
    assert Xref("MESH:D001241", "CAS:50-78-2", 6) in chemicals
    genes = records("ctd", "CTD_genes.tsv")
    assert [(e.entity_id, e.name, e.type) for e in of(Entity, genes)][0] == ("NCBIGene:7157", "TP53", "Gene")
    assert {"LFS1", "tumor protein p53"} <= {a.alias for a in of(Alias, genes) if a.entity_id == "NCBIGene:7157"}


def test_umls_rrf_concepts_types_codes_and_relations() -> None:
    out = records("umls-rrf", "META")
    entities = {e.entity_id: e for e in of(Entity, out)}
    assert entities["UMLS:C0004057"].name == "Aspirin" and entities["UMLS:C0004057"].type == "Chemical"
    assert entities["UMLS:C0011860"].type == "Disease"
    aliases = {(a.entity_id, a.alias): a.kind for a in of(Alias, out)}
    assert aliases[("UMLS:C0004057", "ASA")] == "abbreviation"
    assert ("UMLS:C0004057", "Aspirine") not in aliases  # French row left out
    assert ("UMLS:C0011849", "Diabetes, suppressed") not in aliases  # SUPPRESS=O left out
    assert {x.xref_id for x in of(Xref, out) if x.entity_id == "UMLS:C0011860"} == {"MESH:D003924", "OMIM:125853"}
    edges = [e[:3] for e in of(Edge, out)]
    assert ("UMLS:C0011849", "inverse_isa", "UMLS:C0011860") in edges  # CUI2 REL(A) CUI1
    assert ("UMLS:C0004057", "RO", "UMLS:C0011860") in edges
    assert not any(r == "SY" for _, r, _ in edges)


def test_primekg_and_generic_csv() -> None:
    out = records("primekg", "kg.csv")
    assert {e.entity_id for e in of(Entity, out)} == {
        "NCBIGene:9796",
        "NCBIGene:56992",
        "DRUGBANK:DB00945",
        "MONDO:0005148",
        "HP:0001998",
    }
    assert ("DRUGBANK:DB00945", "indication", "MONDO:0005148") in [e[:3] for e in of(Edge, out)]
    generic = records("csv", "nodes.csv", edges="edges.csv")
    assert {x.xref_id for x in of(Xref, generic)} == {"DOID:9352", "ICD10CM:E11", "HGNC:6081"}
    assert len(of(Edge, generic)) == 2


def test_limit_cuts_records() -> None:
    assert len(of(Entity, records("obo", "obsolete.obo", limit=1))) == 1


def test_malformed_sources_name_file_and_line() -> None:
    with pytest.raises(InputFormatError, match=r"malformed\.obo:line 6"):
        records("obo", "malformed.obo")
    with pytest.raises(InputFormatError, match=r"malformed_kg\.csv:line 2: expected 12 fields"):
        records("primekg", "malformed_kg.csv")


def test_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "kg.toml"
    config.write_text('[[sources]]\nformat = "obo"\npath = "nowhere.obo"\n')
    with pytest.raises(MissingSourceError, match="nowhere.obo"):
        ingest(config, tmp_path / "kg", data_dir=tmp_path)


def test_fixture_kg_resolves_across_formats(tmp_path: Path) -> None:
    manifest = ingest(FIXTURES / "fixtures.toml", tmp_path / "kg", data_dir=FIXTURES)
    entities = read_kg_table(tmp_path / "kg", "entities")
    xrefs = read_kg_table(tmp_path / "kg", "xrefs")
    by_id = {row["entity_id"]: row for row in entities.to_pylist()}
    # MeSH XML, DO (xref MESH), UMLS (MSH code) and the generic CSV all name type 2 diabetes
    t2d = {x["xref_id"] for x in xrefs.filter(pc.equal(xrefs["entity_id"], "MESH:D003924")).to_pylist()}
    assert {"DOID:9352", "DOID:11717", "UMLS:C0011860", "OMIM:125853", "ICD10CM:E11"} <= t2d
    assert "DOID:9352" not in by_id and "UMLS:C0011860" not in by_id
    assert by_id["MESH:D003924"]["name"] == "Diabetes Mellitus, Type 2"
    assert by_id["MESH:D003924"]["description"].startswith("A subclass")
    aliases = read_kg_table(tmp_path / "kg", "aliases")
    t2d_aliases = set(aliases.filter(pc.equal(aliases["entity_id"], "MESH:D003924"))["normalized"].to_pylist())
    assert {"niddm", "t2dm", "type 2 diabetes mellitus", "adult onset diabetes"} <= t2d_aliases
    # edges are rewritten to canonical ids: the UMLS relation now joins two MeSH descriptors
    edges = read_kg_table(tmp_path / "kg", "edges").to_pylist()
    assert {"head": "MESH:D003920", "relation": "inverse_isa", "tail": "MESH:D003924", "source": "umls"} in edges
    # validation: the edge to an obsolete DO term and the one to an unknown MeSH id are dropped
    assert manifest["validation"]["dangling_edge"] == 2
    assert manifest["sources"][0]["files"][0]["sha256"]
    assert json.loads((tmp_path / "kg" / "manifest.json").read_text())["counts"] == manifest["counts"]
    assert not (tmp_path / "kg" / ".spill").exists()


def test_duplicate_ids_and_empty_names_are_dropped_and_counted(tmp_path: Path, caplog) -> None:
    (tmp_path / "nodes.csv").write_text("id,name,type\nX:1,one,Other\nX:1,again,Other\nX:2,,Other\n")
    (tmp_path / "kg.toml").write_text('[[sources]]\nname = "mine"\nformat = "csv"\npath = "nodes.csv"\n')
    manifest = ingest(tmp_path / "kg.toml", tmp_path / "kg", data_dir=tmp_path)
    assert manifest["validation"] == {"duplicate_id": 1, "empty_name": 1}
    assert manifest["counts"]["tables"]["entities"] == 1
    assert "source 'mine' line 3: duplicate id dropped" in caplog.text

"""KG adapters and resolution on the real files in the data directory, and the two KGs
that need no data directory (tiny, embedded)."""

from __future__ import annotations

import tomllib
from collections import Counter
from pathlib import Path

import pyarrow.compute as pc
import pytest

from kogner.kg import read_kg_table
from kogner.kg.adapters import FORMATS
from kogner.kg.ingest import ingest, load_config

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "kg"


def count_records(data_dir: Path, source: str) -> tuple[Counter, Counter]:
    """(record kinds, edge relations) of one dev-config source, streamed."""
    spec = next(s for s in load_config(CONFIGS / "dev.toml", data_dir)[1] if s.name == source)
    kinds, relations = Counter(), Counter()
    for record in FORMATS[spec.format](spec):
        kinds[type(record).__name__] += 1
        if type(record).__name__ == "Edge":
            relations[record.relation] += 1
    return kinds, relations


@pytest.mark.parametrize(
    ("source", "entities", "aliases"),
    [
        ("ctd-diseases", 11_865, 66_129),
        ("mesh", 29_351, 123_902),
        ("drugbank", 14_315, 29_867),
        ("chebi", 56_979, 57_042 - 56_979),  # 57,042 name rows; 63 ids have a second name
        ("disease-ontology", 9_243 - 2_369, None),  # terms minus obsolete ones
        ("hpo", 11_030 - 58, None),
        ("ncbi-gene", 61_649, None),
        ("hgnc", 41_562, None),  # 42,741 records minus 1,179 "Entry Withdrawn"
    ],
)
def test_real_source_counts(data_dir: Path, source: str, entities: int, aliases: int | None) -> None:
    kinds, _ = count_records(data_dir, source)
    assert kinds["Entity"] == entities
    if aliases is not None:
        assert kinds["Alias"] == aliases


def test_hgnc_complete_set_has_42741_records_with_withdrawn(data_dir: Path) -> None:
    spec = next(s for s in load_config(CONFIGS / "dev.toml", data_dir)[1] if s.name == "hgnc")
    spec.options["include_withdrawn"] = True
    assert sum(type(r).__name__ == "Entity" for r in FORMATS["hgnc"](spec)) == 42_741


def test_hpo_is_a_and_hetionet_edges(data_dir: Path) -> None:
    assert count_records(data_dir, "hpo")[1]["is_a"] == 14_647
    kinds, relations = count_records(data_dir, "hetionet")
    assert kinds["Entity"] == 47_031 and kinds["Edge"] == 99_676
    assert len(relations) == 24 and relations["CtD"] == 755


def test_xref_tables(data_dir: Path) -> None:
    assert count_records(data_dir, "mesh-mappings")[0]["Xref"] == 28_737
    kinds, _ = count_records(data_dir, "drugbank-mappings")
    assert kinds["Xref"] + kinds["Alias"] == 29_144  # NAME rows are synonyms


@pytest.fixture(scope="module")
def merged_kg(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A real-data KG with the sources whose merges are asserted (genes cut to 3,000 rows)."""
    dev = tomllib.loads((CONFIGS / "dev.toml").read_text())
    keep = {"ctd-diseases", "mesh", "disease-ontology", "ncbi-gene", "hgnc", "drugbank", "chebi"}
    keep |= {"mesh-mappings", "drugbank-mappings"}
    lines = ['name = "merges"']
    for source in dev["sources"]:
        if source["name"] in keep:
            if source["name"] in ("ncbi-gene", "hgnc"):
                source["limit"] = 3000
            lines.append("[[sources]]")
            lines += [f"{key} = {value!r}".replace("'", '"') for key, value in source.items()]
    config = tmp_path_factory.mktemp("config") / "merges.toml"
    config.write_text("\n".join(lines) + "\n")
    out = tmp_path_factory.mktemp("kg") / "kg"
    ingest(config, out, data_dir)
    return out


def canonical_of(kg: Path, any_id: str) -> str | None:
    xrefs = read_kg_table(kg, "xrefs")
    hits = xrefs.filter(pc.equal(xrefs["xref_id"], any_id))["entity_id"].to_pylist()
    return hits[0] if hits else None


def test_real_merges(merged_kg: Path) -> None:
    # CTD's alt id DO:DOID:0060395 merges the DO term into the CTD MeSH disease
    assert canonical_of(merged_kg, "DOID:0060395") == "MESH:C579849"
    # DO's MESH xref merges type 2 diabetes into its MeSH descriptor
    assert canonical_of(merged_kg, "DOID:9352") == "MESH:D003924"
    # HGNC and NCBI Gene
    assert canonical_of(merged_kg, "HGNC:5") == "NCBIGene:1"
    # DrugBank <-> ChEBI <-> MeSH (kg/xrefs tables): aspirin
    assert canonical_of(merged_kg, "DRUGBANK:DB00945") == "MESH:D001241"
    assert canonical_of(merged_kg, "CHEBI:15365") == "MESH:D001241"
    aliases = read_kg_table(merged_kg, "aliases")
    aspirin = set(aliases.filter(pc.equal(aliases["entity_id"], "MESH:D001241"))["normalized"].to_pylist())
    assert {"aspirin", "acetylsalicylic acid"} <= aspirin


def test_real_manifest(merged_kg: Path, data_dir: Path) -> None:
    from kogner.kg.ingest import read_manifest

    manifest = read_manifest(merged_kg)
    sources = {s["name"]: s for s in manifest["sources"]}
    assert sources["ctd-diseases"]["files"][0]["size"] == (data_dir / "kg/ctd/CTD_diseases.tsv.gz").stat().st_size
    assert sources["ctd-diseases"]["resolution"]["merged"] > 1000
    assert sources["ncbi-gene"]["resolution"]["merged"] > 300  # dbXrefs HGNC:HGNC:n (3,000-row slices)
    entities = read_kg_table(merged_kg, "entities")
    assert entities.num_rows == manifest["counts"]["tables"]["entities"]
    assert len(set(entities["entity_id"].to_pylist())) == entities.num_rows
    edges = read_kg_table(merged_kg, "edges")
    ids = set(entities["entity_id"].to_pylist())
    assert set(edges["head"].to_pylist()) <= ids and set(edges["tail"].to_pylist()) <= ids


def test_tiny_kg_needs_no_data_dir(tmp_path: Path) -> None:
    manifest = ingest(CONFIGS / "tiny.toml", tmp_path / "kg", data_dir=tmp_path / "absent")
    tables = manifest["counts"]["tables"]
    assert 2000 < tables["entities"] < 10_000 and tables["edges"] > 5000
    assert set(manifest["counts"]["entities_by_type"]) >= {"Phenotype", "Disease", "Gene", "CellType"}


def test_embedded_config_needs_no_data_dir(tmp_path: Path) -> None:
    """Every embedded source resolves inside installed packages; ingest a 500-row slice of each."""
    config = tomllib.loads((CONFIGS / "embedded.toml").read_text())
    lines = []
    for source in config["sources"]:
        source["limit"] = 500
        lines.append("[[sources]]")
        lines += [f"{key} = {value!r}".replace("'", '"').replace("True", "true") for key, value in source.items()]
    sliced = tmp_path / "embedded-slice.toml"
    sliced.write_text("\n".join(lines) + "\n")
    manifest = ingest(sliced, tmp_path / "kg", data_dir=tmp_path / "absent")
    assert {s["name"] for s in manifest["sources"]} == {"hpo", "hpo-annotations", "cell-ontology", "chebi"}
    assert all("site-packages" in f["path"] for s in manifest["sources"] for f in s["files"])
    assert manifest["counts"]["entities_by_type"]["CellType"] == 500

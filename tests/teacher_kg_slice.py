"""A small real KG for teacher and index tests: MeSH descriptors under a few tree branches.

Entities are the descriptors (preferred name, entry terms as synonyms), edges are
tree-number parent links (``is_a``), types follow the tree's top letter; a few real
MeSH -> ChEBI/DOID cross-references from kg/xrefs/mesh_mappings.tsv are kept as xrefs.
Optionally the Disease Ontology terms named by a kept descriptor's entry term are added,
ahead of the descriptors and unmerged, as entity resolution leaves many DO terms in the full KG.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from kogner.kg.normalize import normalize_alias
from kogner.kg.schema import TABLES

TYPE_OF_BRANCH = {"A": "Anatomy", "C": "Disease", "D": "Chemical"}


def write_mesh_slice(
    data_dir: Path, out: Path, branches: tuple[str, ...] = ("C14", "A07"), disease_ontology: bool = False
) -> Path:
    """Write a KG directory holding the MeSH descriptors under ``branches`` (tree-number prefixes),
    with ``disease_ontology`` the DO terms whose name is one of their entry terms (not a name)."""
    mesh = data_dir / "kg" / "mesh"
    tree_of: dict[str, str] = {}
    ids_of_tree: dict[str, str] = {}
    for line in (mesh / "mesh_tree_numbers_2015.tsv").read_text().splitlines()[1:]:
        mesh_id, _name, tree = line.split("\t")
        ids_of_tree[tree] = mesh_id
        if tree.startswith(branches):
            tree_of.setdefault(mesh_id, tree)
    entities, aliases = [], []
    for line in (mesh / "mesh_descriptors_2020.tsv").read_text().splitlines():
        mesh_id, name, entry_terms = (line.split("\t") + [""])[:3]
        if mesh_id in tree_of:
            curie = f"MESH:{mesh_id}"
            entities.append((curie, name, TYPE_OF_BRANCH[tree_of[mesh_id][0]], None, "mesh"))
            aliases.append((curie, name, normalize_alias(name), "preferred"))
            aliases.extend((curie, t, normalize_alias(t), "synonym") for t in entry_terms.split("|") if t)
    kept = {e[0] for e in entities}
    if disease_ontology:
        twins = _disease_ontology_twins(
            data_dir, {a[2] for a in aliases if a[3] == "synonym"} - {a[2] for a in aliases if a[3] == "preferred"}
        )
        entities = [(doid, name, "Disease", None, "disease-ontology") for doid, name in twins] + entities
        aliases = [(doid, name, normalize_alias(name), "preferred") for doid, name in twins] + aliases
    edges = set()
    for tree, mesh_id in ids_of_tree.items():
        parent = ids_of_tree.get(tree.rsplit(".", 1)[0]) if "." in tree else None
        head, tail = f"MESH:{mesh_id}", f"MESH:{parent}"
        if parent and head in kept and tail in kept and head != tail:
            edges.add((head, "is_a", tail, "mesh"))
    xrefs = []
    for line in (data_dir / "kg" / "xrefs" / "mesh_mappings.tsv").read_text().splitlines():
        fields = line.split("\t")
        if len(fields) >= 5 and f"MESH:{fields[1]}" in kept:
            xrefs.append((f"MESH:{fields[1]}", fields[4] if ":" in fields[4] else f"{fields[3]}:{fields[4]}"))
    rows = {"entities": entities, "aliases": aliases, "edges": sorted(edges), "xrefs": xrefs}
    for table, records in rows.items():
        schema = TABLES[table]
        columns = list(zip(*records, strict=True)) if records else [[] for _ in schema.names]
        (out / table).mkdir(parents=True, exist_ok=True)
        pq.write_table(
            pa.table(dict(zip(schema.names, columns, strict=True)), schema=schema), out / table / "part-0.parquet"
        )
    counts = {table: len(records) for table, records in rows.items()}
    digest = hashlib.sha256(json.dumps([branches, counts]).encode()).hexdigest()
    (out / "manifest.json").write_text(json.dumps({"schema_version": "1", "counts": counts, "slice": digest}))
    return out


def _disease_ontology_twins(data_dir: Path, entry_terms: set[str]) -> list[tuple[str, str]]:
    """(DOID, name) of the Disease Ontology terms whose normalized name is in ``entry_terms``."""
    twins, term_id = [], None
    for line in (data_dir / "kg" / "disease-ontology" / "doid_2016-03.obo").read_text().splitlines():
        if line.startswith("id: "):
            term_id = line[4:]
        elif line.startswith("name: ") and term_id and normalize_alias(line[6:]) in entry_terms:
            twins.append((term_id, line[6:]))
    return twins

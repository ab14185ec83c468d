"""The entity index on a real MeSH slice (with the Disease Ontology terms named like its entry
terms): build, save/load, search, lookups, ties, abbreviations, xrefs, CLI."""

from __future__ import annotations

import json
import shutil
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import faiss
import numpy as np
import pyarrow.parquet as pq
import pytest

from kogner import index as index_module
from kogner.cli import main
from kogner.datasets import load_dataset
from kogner.documents import Mention
from kogner.encoder import StaticTextEncoder, TextEncoder
from kogner.errors import InputFormatError
from kogner.index import EntityIndex, ScanTable, build_index, make_faiss_index, nearest, stored_vectors
from kogner.kg.ids import priority
from kogner.kg.normalize import normalize_alias
from kogner.model import KoGNERConfig, PredictedMention
from kogner.model.linking import link_predicted
from kogner.teacher.text import arrow_to_vectors
from kogner.training import teacher_targets


@pytest.fixture(scope="module")
def index_dir(mesh_index_dir: Path) -> Path:
    """The shared MeSH-slice index (tests/conftest.py)."""
    return mesh_index_dir


@pytest.fixture(scope="module")
def index(index_dir: Path) -> EntityIndex:
    return EntityIndex.load(index_dir)


@pytest.fixture(scope="module")
def contextual_index(index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> EntityIndex:
    """The same index with the contextual alias encoder (MiniLM itself) instead of the static one,
    built through the CLI (``kogner index build --alias-encoder contextual``)."""
    meta = json.loads((index_dir / "index.json").read_text())
    out = tmp_path_factory.mktemp("contextual") / "index"
    assert main(["index", "build", meta["teacher_dir"], str(out), "--alias-encoder", "contextual"]) == 0
    return EntityIndex.load(out)


def test_search_round_trips_teacher_vectors(index_dir: Path, index: EntityIndex) -> None:
    meta = json.loads((index_dir / "index.json").read_text())
    assert index.dim == meta["dim"] == 384 + 32 + 16
    assert meta["alias_kind"] == "flat"  # exact nearest aliases
    teacher = pq.read_table(Path(meta["teacher_dir"]) / "vectors.parquet")
    ids = teacher["entity_id"].to_pylist()[:20]
    vectors, found = index.teacher_vectors(ids)
    assert found.all()
    assert np.allclose(vectors, arrow_to_vectors(teacher["vector"])[:20])
    hits = index.search(vectors, k=3)
    assert [links[0].entity_id for links in hits] == ids
    assert all(abs(links[0].score - 1.0) < 1e-4 and links[0].score >= links[1].score for links in hits)


def test_reloaded_index_answers_the_same(index_dir: Path, index: EntityIndex) -> None:
    again = EntityIndex.load(index_dir)
    vectors, _ = index.teacher_vectors(["MESH:D009203", "MESH:D001011"])
    assert again.search(vectors, 5) == index.search(vectors, 5)


def test_alias_exact_lookup_finds_descriptors_from_entry_terms(index: EntityIndex) -> None:
    # MeSH entry terms of D009203 Myocardial Infarction and D001011 Aorta, case and hyphens varied
    results = index.lookup(["heart attack", "Myocardial Infarct", "AORTA", "Cardiac-Arrest"], k=3)
    assert [links[0].entity_id for links in results] == ["MESH:D009203", "MESH:D009203", "MESH:D001011", "MESH:D006323"]
    assert results[0][0].name == "Myocardial Infarction" and results[0][0].type == "Disease"
    assert all(links[0].score == 1.0 and len(links) == 3 for links in results)


def test_exact_alias_ties_prefer_mesh_to_unmerged_disease_ontology_terms(index: EntityIndex) -> None:
    # DOID:12930 and DOID:0060319 are named by entry terms of D002311 and D006323, and come first in
    # the KG; their preferred names lose to MeSH because MESH leads CANONICAL_PRIORITY.
    assert index.entity_ids[index.alias_rows["dilated cardiomyopathy"][0]] == "MESH:D002311"
    results = index.lookup(["Dilated cardiomyopathy", "cardiac arrest"], k=2)
    assert [[link.entity_id for link in links] for links in results] == [
        ["MESH:D002311", "DOID:12930"],
        ["MESH:D006323", "DOID:0060319"],
    ]
    assert all(link.score == 1.0 for links in results for link in links)


def test_namespaces_keep_entities_with_an_id_or_xref_of_those_prefixes(index: EntityIndex) -> None:
    mesh_only = index.lookup(["cardiac arrest", "dilated cardiomyopathy"], k=3, namespaces=["MESH"])
    assert [links[0].entity_id for links in mesh_only] == ["MESH:D006323", "MESH:D002311"]
    assert all(link.entity_id.startswith("MESH:") for links in mesh_only for link in links)
    disease_ontology = index.lookup(["cardiac arrest"], k=5, namespaces=["DOID"])[0]
    assert disease_ontology[0].entity_id in {"MESH:D006323", "DOID:0060319"}
    assert any(link.entity_id == "DOID:0060319" for link in disease_ontology)
    # a MeSH descriptor qualifies through its DOID cross-reference (kg/xrefs/mesh_mappings.tsv)
    assert all(any(i.startswith("DOID:") for i in index.xrefs_of(link.entity_id)) for link in disease_ontology)


def test_entities_sharing_an_alias_order_by_prefix_then_rank_then_alias_count(index: EntityIndex) -> None:
    aliases = pq.read_table(index.path / "aliases.parquet").to_pydict()
    rank = {(n, r): k for n, r, k in zip(aliases["normalized"], aliases["row"], aliases["rank"], strict=True)}
    count = Counter(aliases["row"])
    shared = {alias: rows for alias, rows in index.alias_rows.items() if len(rows) > 1}
    assert len(shared) >= 20  # the DO twins at least
    for alias, rows in shared.items():
        keys = [(priority(index.entity_ids[r])[0], rank[(alias, r)], -count[r], r) for r in rows]
        assert keys == sorted(keys), alias


def test_added_aliases_come_first_most_frequent_entity_first(index_dir: Path) -> None:
    index = EntityIndex.load(index_dir)  # its own copy: add_aliases changes the dictionary
    xrefs = pq.read_table(index.path / "xrefs.parquet")
    xref_id, xref_entity = xrefs["id"][0].as_py(), index.entity_ids[xrefs["row"][0].as_py()]
    training = [
        ("cardiac arrest", "DOID:0060319"),  # as a corpus could annotate it: twice DO, once MeSH
        ("Cardiac-Arrest", "MESH:D006323"),
        ("cardiac arrest", "DOID:0060319"),
        ("sudden cardiac death", "MESH:D999999"),  # not in the index: skipped
        ("a name only the corpus uses", xref_id),  # an xref resolves to its entity
    ]
    assert index.add_aliases(training) == 3
    results = index.lookup(["cardiac arrest", "A name only the corpus uses"], k=2)
    assert [link.entity_id for link in results[0]] == ["DOID:0060319", "MESH:D006323"]
    assert results[1][0].entity_id == xref_entity and results[1][0].score == 1.0


def test_lookup_expands_short_forms_defined_in_the_document(data_dir: Path, index: EntityIndex) -> None:
    # BC5CDR test PMID 12535818 defines "atrial fibrillation (AF)" and "myocardial infarction (MI)"
    [document] = [d for d in load_dataset("bc5cdr", "test", data_dir) if d.id == "12535818"]
    mentions = ["AF", "MI", "new-onset AF"]
    in_context = index.lookup(mentions, k=1, types=["Disease"], documents=[document.text, document.text, None])
    assert [links[0].entity_id for links in in_context[:2]] == ["MESH:D001281", "MESH:D009203"]
    assert in_context[0][0].score == 1.0
    alone = index.lookup(mentions, k=1, types=["Disease"])
    assert [links[0].entity_id for links in alone[:2]] != ["MESH:D001281", "MESH:D009203"]
    assert in_context[2] == alone[2]  # no document: the mention as it is


def test_model_linking_reads_short_forms_through_the_text(data_dir: Path, index: EntityIndex) -> None:
    [document] = [d for d in load_dataset("bc5cdr", "test", data_dir) if d.id == "12535818"]
    text = document.text
    start = text.index(" AF", text.index("(AF)") + 4) + 1  # a use of AF after its definition
    mentions = [PredictedMention(start, start + 2, "AF", "Disease", 0.9)]
    # link_predicted needs only these of a KoGNER in the alias strategy
    model = SimpleNamespace(index=index, config=KoGNERConfig(link_strategy="alias"), student_projection=None)
    # two texts linked together: each mention reads only its own text's short forms
    [[linked], [alone]] = link_predicted(model, [mentions, mentions], [text, None])
    assert (linked.entity_id, linked.entity_name, linked.link_score) == ("MESH:D001281", "Atrial Fibrillation", 1.0)
    assert alone.entity_id != "MESH:D001281"


def test_mentions_link_only_to_entities_of_the_kg_types_their_type_allows(
    index: EntityIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the slice holds heart diseases (Disease) and blood vessels (Anatomy), no chemicals
    index = EntityIndex(index.path, encoder=index.encoder)  # a fresh neighbour cache
    encoded: list[str] = []
    encode = index.encoder.encode
    monkeypatch.setattr(index.encoder, "encode", lambda texts, *a, **kw: encoded.extend(texts) or encode(texts))
    text = "Blood from the aorta."
    types = ["Anatomy", "Disease", "Chemical", "Vessel"]  # "Vessel": a corpus's own type name
    mentions = [[PredictedMention(15, 20, "aorta", mention_type, 0.9)] for mention_type in types]
    model = SimpleNamespace(index=index, config=KoGNERConfig(link_strategy="alias"), student_projection=None)
    linked = link_predicted(model, mentions, [text] * 4)
    anatomy, disease, chemical, vessel = (found for [found] in linked)
    assert (anatomy.entity_id, anatomy.link_score) == ("MESH:D001011", 1.0)
    assert disease.entity_id is not None and index.types[index.row_of_id[disease.entity_id]] == "Disease"
    assert chemical.entity_id is None  # no Chemical entity in the KG: not linked
    assert vessel.entity_id == "MESH:D001011"  # not a KG type name: any entity
    assert encoded == ["aorta"]  # once, for the Disease mention; never for the Chemical one
    model.config.link_threshold = 1.0  # only exact alias links (score 1.0) are reported now
    anatomy, disease = (found for [found] in link_predicted(model, mentions[:2], [text] * 2))
    assert anatomy.entity_id == "MESH:D001011" and (disease.entity_id, disease.link_score) == (None, None)
    model.config.link_types = {"Anatomy": []}  # a model's own choice: never link Anatomy
    assert link_predicted(model, mentions[:1], [text])[0][0].entity_id is None
    # training's teacher targets follow the same rule
    gold = [Mention(15, 20, "aorta", mention_type) for mention_type in types]
    targets = teacher_targets(index, gold, {}, [text] * 4, model.config.linkable_types)
    assert [target is None for target in targets] == [True, False, True, False]


def test_only_distinct_mentions_the_dictionary_leaves_short_of_k_are_encoded(
    index: EntityIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = EntityIndex(index.path, encoder=index.encoder)  # a fresh neighbour cache
    encoded: list[list[str]] = []
    encode = index.encoder.encode
    monkeypatch.setattr(index.encoder, "encode", lambda texts, *a, **kw: encoded.append(list(texts)) or encode(texts))
    results = index.lookup(["heart attack", "infarction of the myocardium", "Infarction of the Myocardium"], k=1)
    # the exact MeSH entry term needs no encoder; a text repeated (up to case) is encoded once
    assert encoded == [["infarction of the myocardium"]]
    assert [links[0].entity_id for links in results] == ["MESH:D009203"] * 3
    assert results[0][0].score == 1.0 > results[1][0].score == results[2][0].score
    # a later call answers a text seen before from the index's cache: same links, no encoding
    assert index.lookup(["infarction of the myocardium"], k=1) == results[1:2] and len(encoded) == 1


def test_mentions_of_different_types_share_one_encoder_pass(
    index: EntityIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    """lookup_each encodes every text short of an exact link in one batch, whatever its types, and
    each text still links only within its own types (a cached answer serves a later, shorter request)."""
    index = EntityIndex(index.path, encoder=index.encoder)  # a fresh neighbour cache
    encoded: list[list[str]] = []
    encode = index.encoder.encode
    monkeypatch.setattr(index.encoder, "encode", lambda texts, *a, **kw: encoded.append(list(texts)) or encode(texts))
    texts = ["infarction of the myocardium", "aortic tissue", "infarction of the myocardium", "aortic tissue"]
    types = [["Disease"], ["Anatomy"], ["Anatomy"], None]
    results = index.lookup_each(texts, types)
    assert encoded == [["infarction of the myocardium", "aortic tissue"]]
    assert [links[0].type for links in results[:3]] == ["Disease", "Anatomy", "Anatomy"]
    assert results[0][0].entity_id == "MESH:D009203" and results[3]
    assert index.lookup(["aortic tissue"], k=1) == [results[3]] and len(encoded) == 1


def test_the_static_alias_encoder_links_real_mentions_as_the_contextual_one_does(
    data_dir: Path, index: EntityIndex, contextual_index: EntityIndex
) -> None:
    """The default index embeds aliases and mentions with the static encoder distilled from MiniLM
    at build time; on the NCBI-disease and BC5CDR test mentions whose gold entity the MeSH slice
    holds (and that no alias names exactly), it links about as many correctly as MiniLM does."""
    assert index.meta["alias_encoder"] == "static" and isinstance(index.encoder, StaticTextEncoder)
    assert (index.path / StaticTextEncoder.FILE_NAME).is_file()
    assert contextual_index.meta["alias_encoder"] == "contextual" and isinstance(contextual_index.encoder, TextEncoder)
    mentions = {}
    for dataset in ("ncbi-disease", "bc5cdr"):
        for doc in load_dataset(dataset, "test", data_dir):
            for m in doc.mentions:
                gold = {index.canonical_id(f"MESH:{i}") for i in m.ids} - {None}
                if gold and normalize_alias(m.text) not in index.alias_rows:
                    mentions[m.text] = gold
    texts = sorted(mentions)
    assert len(texts) > 50

    def correct(linked: EntityIndex) -> int:
        found = linked.lookup(texts, k=1, types=["Disease"])
        hits = [bool(links) and links[0].entity_id in mentions[text] for text, links in zip(texts, found, strict=True)]
        return sum(hits)

    static, contextual = correct(index), correct(contextual_index)
    assert contextual > 0.3 * len(texts)  # the task is not trivial or empty
    assert static >= contextual - 0.05 * len(texts)


def test_an_unknown_alias_encoder_is_refused_before_any_work(index_dir: Path, tmp_path: Path) -> None:
    meta = json.loads((index_dir / "index.json").read_text())
    with pytest.raises(ValueError, match="static"):
        build_index(meta["teacher_dir"], None, tmp_path / "index", alias_encoder="sapbert")
    assert not (tmp_path / "index").exists()


def test_one_link_per_mention_reads_one_neighbour_the_best_of_several(
    index: EntityIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    """k = 1 without a namespace filter searches a single neighbour (each alias searched has an
    entity of the allowed types) and finds the best of what k = 5 finds; a namespace filter,
    which can reject that neighbour, still reads many."""
    index = EntityIndex(index.path, encoder=index.encoder)  # a fresh neighbour cache
    fetched: list[int] = []
    neighbours = index._alias_neighbours
    monkeypatch.setattr(index, "_alias_neighbours", lambda requests, n: fetched.append(n) or neighbours(requests, n))
    texts = [f"{name} wall" for name in sorted(set(index.names))[:60]]  # no exact alias
    types = [["Disease"], ["Anatomy"], None] * 20
    one = index.lookup_each(texts, types, k=1)
    five = EntityIndex(index.path, encoder=index.encoder).lookup_each(texts, types, k=5)
    assert fetched == [1]
    assert all(len(links) == 1 for links in one)
    assert [links[0].score for links in one] == pytest.approx([links[0].score for links in five], abs=1e-6)
    assert [links[0].type for links in one[:2]] == ["Disease", "Anatomy"]
    index.lookup_each(texts[:3], types[:3], k=1, namespaces=["MESH"])
    assert fetched[-1] > 1


def test_typed_lookup_finds_the_nearest_alias_of_its_types_however_far(contextual_index: EntityIndex) -> None:
    """A Disease lookup of vessel names: their nearest aliases are vessels, and each still links to
    the Disease alias nearest it over the whole index (exhaustive search, float32)."""
    index = EntityIndex(contextual_index.path, encoder=contextual_index.encoder)  # a fresh neighbour cache
    texts = sorted({index.names[row] for row in range(len(index.names)) if index.types[row] == "Anatomy"})[:40]
    texts = [f"{text} wall" for text in texts]  # no exact alias
    queries = index.encoder.encode([normalize_alias(t) for t in texts])
    of_disease = [a for a, rows in index.rows_of_alias_vector.items() if {index.types[r] for r in rows} & {"Disease"}]
    scores = queries @ stored_vectors(index.alias_index).numpy()[of_disease].T
    results = index.lookup(texts, k=1, types=["Disease"])
    assert [links[0].score for links in results] == pytest.approx(scores.max(axis=1).tolist(), abs=1e-5)
    assert all(index.types[index.row_of_id[links[0].entity_id]] == "Disease" for links in results)
    overall = nearest(index.alias_index, queries, 128)[1]
    beyond = [i for i, rows in enumerate(overall) if not set(rows) & set(of_disease)]
    assert beyond  # some texts have no Disease alias among their 128 nearest at all


def test_the_faiss_files_are_memory_mapped_not_read(index: EntityIndex) -> None:
    """Beam workers on one machine share the index's pages, and a model that links by alias never
    reads the teacher index: both faiss files are mapped into the process, not copied."""
    maps = Path("/proc/self/maps")
    if not maps.exists():
        pytest.skip("needs Linux's /proc/self/maps")
    mapped = maps.read_text()
    for name in ("alias_vectors.faiss", "teacher.faiss"):
        assert str((index.path / name).resolve()) in mapped


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage"])
def test_an_unreadable_faiss_file_is_one_error_naming_it(index_dir: Path, tmp_path: Path, damage: str) -> None:
    copy = tmp_path / "index"
    shutil.copytree(index_dir, copy)
    path = copy / "alias_vectors.faiss"
    content = path.read_bytes()
    path.write_bytes({"empty": b"", "truncated": content[: len(content) // 2], "garbage": b"\0garbage" * 64}[damage])
    with pytest.raises(InputFormatError, match=r"alias_vectors\.faiss: not a readable faiss index \(") as raised:
        EntityIndex.load(copy)
    assert ".cpp" not in str(raised.value)


def test_embedding_lookup_when_no_alias_matches(index: EntityIndex) -> None:
    results = index.lookup(["infarction of the myocardium", "aortic tissue"], k=5, types=["Disease"])
    assert results[0][0].entity_id == "MESH:D009203" and results[0][0].score < 1.0
    assert all(link.type == "Disease" for link in results[1])


def test_xrefs_resolve_to_the_canonical_entity(index: EntityIndex) -> None:
    xrefs = pq.read_table(index.path / "xrefs.parquet")
    xref_id, row = xrefs["id"][0].as_py(), xrefs["row"][0].as_py()
    entity_id = index.entity_ids[row]
    assert index.canonical_id(xref_id) == entity_id and index.canonical_id(entity_id) == entity_id
    assert index.canonical_id("MESH:D999999") is None
    vectors, found = index.teacher_vectors([xref_id, "MESH:D999999"])
    assert found.tolist() == [True, False] and not vectors[1].any()
    assert np.allclose(vectors[0], index.teacher_vectors([entity_id])[0][0])


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_index_kinds_find_exact_neighbours(kind: str, tmp_path: Path) -> None:
    vectors = np.random.default_rng(0).standard_normal((5000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    faiss.write_index(make_faiss_index(vectors, kind), str(tmp_path / "x.faiss"))
    _, rows = faiss.read_index(str(tmp_path / "x.faiss")).search(vectors[:50], 1)
    assert (rows[:, 0] == np.arange(50)).mean() >= 0.9


def test_nearest_answers_an_exact_index_as_faiss_does(monkeypatch: pytest.MonkeyPatch) -> None:
    vectors = np.random.default_rng(1).standard_normal((3000, 48)).astype(np.float32)
    queries = np.random.default_rng(2).standard_normal((70, 48)).astype(np.float32)
    flat = make_faiss_index(vectors, "flat")
    expected_scores, expected_rows = flat.search(queries, 10)
    monkeypatch.setattr(index_module, "SCORE_BLOCK", 3000 * 16)  # five blocks of 16 queries
    scores, rows = nearest(flat, queries, 10)
    assert (rows == expected_rows).all() and np.allclose(scores, expected_scores, atol=1e-4)
    # past the index's size: rows -1, as faiss pads them
    small = make_faiss_index(vectors[:3], "flat")
    assert nearest(small, queries[:2], 5)[1].tolist() == small.search(queries[:2], 5)[1].tolist()
    assert nearest(small, queries[:0], 5)[1].shape == (0, 5)


@pytest.mark.parametrize("extra", [0, index_module.COARSE_EXTRA])
def test_bf16_candidates_rescored_in_fp32_give_the_exact_neighbours(
    data_dir: Path, contextual_index: EntityIndex, monkeypatch: pytest.MonkeyPatch, extra: int
) -> None:
    """With 2k candidates only, some queries' true k-th lies beyond them (near-ties in bf16):
    the error bound catches each such query and searches it again in fp32. (MiniLM's vectors:
    the static encoder gives aliases made of the same subwords equal vectors, exact ties that
    faiss and the scan may order differently.)"""
    # real queries: the NCBI-disease test mentions, against the MeSH slice's alias vectors
    texts = sorted({m.text for d in load_dataset("ncbi-disease", "test", data_dir) for m in d.mentions})[:300]
    queries = contextual_index.encoder.encode(texts)
    aliases = contextual_index.alias_index
    monkeypatch.setattr(index_module, "SCORE_BLOCK", aliases.ntotal * 64)  # several blocks
    monkeypatch.setattr(index_module, "COARSE_EXTRA", extra)
    searched_again = []
    exact_scan = index_module._exact_scan
    monkeypatch.setattr(
        index_module, "_exact_scan", lambda q, *rest: searched_again.append(len(q)) or exact_scan(q, *rest)
    )
    vectors = stored_vectors(aliases).numpy()
    for k in (1, 32):
        expected_scores, expected_rows = aliases.search(queries, k)
        scores, rows = nearest(aliases, queries, k, ScanTable(stored_vectors(aliases).bfloat16()))
        # faiss's k best, in its order up to fp32 near-ties: two aliases whose scores differ in the
        # last bit may come in either order (seen in fp32 on an AVX2-only CPU). So each row found
        # must score, in fp32, what faiss's row at that rank scores, and rows must not repeat.
        found_scores = np.einsum("qd,qkd->qk", queries, vectors[rows])
        assert np.allclose(found_scores, expected_scores, atol=1e-5) and np.allclose(scores, expected_scores, atol=1e-5)
        assert all(len(set(found)) == k for found in rows.tolist())
        assert (rows == expected_rows).mean() > 0.99  # ties are rare
    assert sum(searched_again) > 0 if extra == 0 else sum(searched_again) < 0.01 * len(texts)


def test_an_hnsw_alias_index_links_like_the_exact_one(index_dir: Path, index: EntityIndex, tmp_path: Path) -> None:
    meta = json.loads((index_dir / "index.json").read_text())
    hnsw = EntityIndex.load(build_index(meta["teacher_dir"], None, tmp_path / "index", alias_kind="hnsw"))
    assert json.loads((tmp_path / "index" / "index.json").read_text())["alias_kind"] == "hnsw"
    assert isinstance(hnsw.alias_index, faiss.IndexHNSWFlat) and hnsw.alias_index.hnsw.efSearch >= 128
    mentions = ["infarction of the myocardium", "aortic tissue", "coronary vessel disease", "valve of the heart"]
    approximate, exact = (i.lookup(mentions, k=3, types=["Disease"]) for i in (hnsw, index))
    assert [[link.entity_id for link in links] for links in approximate] == [
        [link.entity_id for link in links] for links in exact
    ]
    # the exact index scores with PyTorch, HNSW with faiss: equal up to float rounding
    assert np.allclose(
        [[link.score for link in links] for links in approximate],
        [[link.score for link in links] for links in exact],
        atol=1e-5,
    )


def test_link_cli_prints_json(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["link", str(index_dir), "heart attack", "-k", "2"]) == 0
    output = json.loads(capsys.readouterr().out)
    assert output[0]["mention"] == "heart attack" and output[0]["links"][0]["entity_id"] == "MESH:D009203"
    assert len(output[0]["links"]) == 2


def test_link_cli_reads_the_document_and_namespaces(
    data_dir: Path, index_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    [document] = [d for d in load_dataset("bc5cdr", "test", data_dir) if d.id == "12535818"]
    (tmp_path / "abstract.txt").write_text(document.text)
    argv = ["link", str(index_dir), "AF", "cardiac arrest", "-k", "1", "--document", str(tmp_path / "abstract.txt")]
    assert main([*argv, "--namespace", "MESH"]) == 0
    output = json.loads(capsys.readouterr().out)
    assert [item["links"][0]["entity_id"] for item in output] == ["MESH:D001281", "MESH:D006323"]


def test_missing_index_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["link", str(tmp_path), "heart attack"]) == 2
    assert "index.json" in capsys.readouterr().err


def test_threads_sharing_an_index_encode_at_the_same_time(index: EntityIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    """The neighbour cache's lock must not be held while encoding: two threads looking up
    different texts both reach the encoder before either leaves it, and both get their links."""
    index = EntityIndex(index.path, encoder=index.encoder)  # a fresh neighbour cache
    both_inside = threading.Barrier(2, timeout=30)
    encode = index.encoder.encode

    def encode_when_both_are_inside(texts, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        both_inside.wait()  # raises BrokenBarrierError if the other thread cannot get in
        return encode(texts)

    monkeypatch.setattr(index.encoder, "encode", encode_when_both_are_inside)
    with ThreadPoolExecutor(2) as pool:
        # neither text is an exact alias, so both go to the encoder
        texts = ("infarction of the myocardium", "aortic tissue")
        results = [future.result() for future in [pool.submit(index.lookup, [text], 1) for text in texts]]
    assert results[0][0][0].entity_id == "MESH:D009203" and results[1][0]

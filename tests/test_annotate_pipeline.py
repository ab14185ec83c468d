"""The Beam annotation job end to end, on slices of the real MEDLINE and PubTator files, with
a tiny untrained KoGNER model (so that CI stays fast; scores are meaningless, offsets,
counts and bookkeeping are what is checked)."""

from __future__ import annotations

import gzip
import json
import pickle
import re
import threading
from pathlib import Path
from unittest.mock import patch

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertModel

from kogner.corpora import read_corpus
from kogner.encoder import resolve_encoder
from kogner.model import KoGNER, PredictedMention
from kogner.model.spans import SpanBatch
from pipelines.annotate import (
    AnnotatedDocument,
    LinkDocuments,
    ReconciliationError,
    Settings,
    WriteShardFn,
    annotate_shard,
    log_counters,
    run,
)
from pipelines.handler import KoGNERModelHandler, WorkerModel
from pipelines.io import DeadLetter
from pipelines.shards import Shard
from pipelines.windows import DocumentWindows, document_windows

LONG_CHARS = 200_000
# An untrained model scores spans around 0.5, so it proposes mentions all over the text: what
# is checked is coverage (e.g. the end of a 200,000-character document), offsets and counts.
MODEL_ARGS = ["--threshold", "0.5", "--batch_size", "16"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh KoGNER on a 1-layer, 32-wide BERT with the MiniLM tokenizer, spans up to 4 words."""
    root = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(resolve_encoder(None))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertModel(config).save_pretrained(root / "encoder")
    tokenizer.save_pretrained(root / "encoder")
    types = ["Chemical", "Disease"]
    model = KoGNER.from_encoder(str(root / "encoder"), types, span_dim=32, width_dim=8, max_span_width=4)
    return model.save_pretrained(root / "kogner")


def test_handler_runs_a_group_in_batches_of_similar_subword_count(tiny_model: Path, data_dir: Path) -> None:
    documents = list(read_corpus(data_dir / "ner/BC5CDR/pubtator/test.txt"))[:12]
    group = [DocumentWindows(("s", n), d, document_windows(d, 40, 5)) for n, d in enumerate(documents)]
    windows = [w for item in group for w in item.windows]
    handler = KoGNERModelHandler(str(tiny_model), batch_size=4)
    model = handler.load_model()
    seen: dict[int, list[list[int]]] = {}  # per thread (two on CPU with 2 cores: predict), its batches' subwords
    span_hidden = model.span_hidden

    def spy(batch: SpanBatch, *args: torch.Tensor) -> torch.Tensor:
        seen.setdefault(threading.get_ident(), []).append(batch.attention_mask.sum(dim=1).tolist())
        return span_hidden(batch, *args)

    with patch.object(model, "span_hidden", spy):
        results = list(handler.run_inference(group, model))
    assert [r.example for r in results] == group  # one result per document, in order
    alone = model.predict([w.text for w in windows], batch_size=4, link=False, abbreviation_consistency=False)
    by_window = [found for r in results for found in r.inference]  # each window's mentions, windows in order
    assert [[(m.start, m.end, m.type) for m in found] for found in by_window] == [
        [(m.start, m.end, m.type) for m in found] for found in alone
    ]
    batches = [sizes for thread in seen.values() for sizes in thread]
    assert all(len(sizes) <= 4 for sizes in batches) and sum(map(len, batches)) == len(windows)
    for thread in seen.values():
        subwords = [n for sizes in thread for n in sizes]
        assert subwords == sorted(subwords) and len(set(subwords)) > 3  # sorted by subwords, not by words


def _medline_slice(data_dir: Path, citations: int) -> bytes:
    """The first ``citations`` MedlineCitation elements of the real baseline file, as XML."""
    xml = gzip.decompress((data_dir / "pubmed/medline16n0902.xml.gz").read_bytes()).decode("utf-8")
    starts = [m.start() for m in re.finditer(r"<MedlineCitation ", xml)]
    return (xml[: starts[citations]] + "</MedlineCitationSet>\n").encode("utf-8")


def _pubtator_records(data_dir: Path, count: int) -> list[bytes]:
    text = (data_dir / "ner/BC5CDR/pubtator/test.txt").read_bytes()
    return [block.strip() + b"\n" for block in text.split(b"\n\n") if block.strip()][:count]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("inputs")
    (root / "medline-slice.xml.gz").write_bytes(gzip.compress(_medline_slice(data_dir, 6)))
    cut = _medline_slice(data_dir, 6)
    (root / "broken.xml.gz").write_bytes(gzip.compress(cut[: cut.rindex(b"<MedlineCitation ") + 300]))
    records = _pubtator_records(data_dir, 5)
    first_id = records[0].split(b"|", 1)[0]
    bad = [
        b"990001|t|A title whose abstract is empty\n990001|a|\n",
        b"990002|t|Caf\xe9 au lait spots in neurofibromatosis\n990002|a|Latin-1 bytes are not UTF-8.\n",
        first_id + b"|t|The later record with this id wins\n" + first_id + b"|a|Aspirin and asthma.\n",
    ]
    (root / "bc5-slice.txt").write_bytes(b"\n".join(records + bad))
    abstracts = [doc.text for doc in read_corpus(data_dir / "ner/BC5CDR/pubtator/test.txt")]
    long_text = ""
    while len(long_text) < LONG_CHARS:
        long_text += abstracts[len(long_text) % len(abstracts)] + " "
    long_doc = {"id": "long-1", "passages": [{"kind": "text", "offset": 0, "text": long_text[:LONG_CHARS]}]}
    (root / "long.jsonl").write_text(json.dumps(long_doc) + "\n", encoding="utf-8")
    biored = list(read_corpus(data_dir / "ner/BioRED/Dev.PubTator"))[:3]
    rows = [{"id": d.id, "title": d.passages[0].text, "abstract": d.passages[1].text} for d in biored]
    pq.write_table(pa.Table.from_pylist(rows), root / "biored-docs.parquet")
    return root


@pytest.fixture(scope="module")
def annotated(inputs: Path, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    out = tmp_path_factory.mktemp("out")
    argv = ["--input", str(inputs / "*"), "--model", str(tiny_model), "--output", str(out)]
    counters: list[dict[str, int]] = []
    with patch("pipelines.annotate.log_counters", side_effect=lambda result: counters.append(log_counters(result))):
        manifests = run([*argv, *MODEL_ARGS, "--formats", "parquet,pubtator,bioc", "--runner", "DirectRunner"])
    return out, {m["shard"]: m for m in manifests}, counters[0]


def _mentions(out: Path, shard: str) -> list[dict]:
    return pq.read_table(out / shard / "mentions.parquet").to_pylist()


def _dead(out: Path, shard: str) -> list[dict]:
    return pq.read_table(out / shard / "dead_letter.parquet").to_pylist()


def test_every_shard_reconciles_and_offsets_point_into_the_original_text(annotated, inputs) -> None:
    out, manifests, _ = annotated
    assert set(manifests) == {"medline-slice", "broken", "bc5-slice", "long", "biored-docs"}
    for name, manifest in manifests.items():
        assert manifest["status"] == "complete"
        assert manifest["documents_in"] == manifest["documents_annotated"] + manifest["documents_dead_lettered"]
        assert len(_mentions(out, name)) == manifest["mentions"]
        assert len(_dead(out, name)) == manifest["documents_dead_lettered"]
        assert json.loads((out / name / "manifest.json").read_text()) == manifest
    medline = manifests["medline-slice"]
    assert (medline["documents_in"], medline["documents_annotated"]) == (6, 6)
    texts = {d.id: d.text for d in read_corpus(inputs / "medline-slice.xml.gz")}
    mentions = _mentions(out, "medline-slice")
    assert {m["doc_id"] for m in mentions} == set(texts)
    for m in mentions:
        assert texts[m["doc_id"]][m["start"] : m["end"]] == m["text"]
        assert m["model_version"] == medline["model_version"] and m["run_id"] == medline["run_id"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "staging directories left behind"


def test_beam_counters_agree_with_the_manifests(annotated) -> None:
    _, manifests, counters = annotated
    for counter, field in [
        ("documents_read", "documents_in"),
        ("documents_annotated", "documents_annotated"),
        ("documents_failed", "documents_dead_lettered"),
        ("mentions", "mentions"),
        ("windows", "windows"),
    ]:
        assert counters[counter] == sum(m[field] for m in manifests.values()), counter
    assert (
        counters["documents_failed"] == sum(m["dead_letters_by_stage"].get("read", 0) for m in manifests.values()) + 1
    )


def test_pubtator_and_bioc_outputs_hold_the_same_mentions(annotated) -> None:
    out, manifests, _ = annotated
    parquet = {(m["doc_id"], m["start"], m["end"], m["type"]) for m in _mentions(out, "medline-slice")}
    for fmt, name in (("pubtator", "annotations.pubtator"), ("bioc-json", "annotations.bioc.json")):
        docs = list(read_corpus(out / "medline-slice" / name, format=fmt))
        assert {(d.id, m.start, m.end, m.type) for d in docs for m in d.mentions} == parquet


def test_malformed_xml_shard_is_reported_and_other_shards_go_on(annotated) -> None:
    out, manifests, _ = annotated
    broken = manifests["broken"]
    assert broken["documents_annotated"] == 5  # the citations before the cut
    assert broken["input_errors"] and broken["dead_letters_by_stage"] == {"read": 1}
    [dead] = _dead(out, "broken")
    assert dead["stage"] == "read" and "reading stopped here" in dead["reason"]
    assert manifests["medline-slice"]["documents_dead_lettered"] == 0


def test_bad_records_in_a_pubtator_shard(annotated, inputs) -> None:
    out, manifests, _ = annotated
    bc5 = manifests["bc5-slice"]
    assert bc5["documents_in"] == 8
    dead = {d["stage"]: d for d in _dead(out, "bc5-slice")}
    assert set(dead) == {"read", "duplicate"}
    assert dead["read"]["doc_id"] == "990002" and "UTF-8" in dead["read"]["reason"]
    content = (inputs / "bc5-slice.txt").read_bytes()
    line = content[: content.index(b"990002|t|")].count(b"\n") + 1
    assert dead["read"]["record"] == f"line {line}"
    first_id = dead["duplicate"]["doc_id"]
    docs = {d.id: d for d in read_corpus(out / "bc5-slice" / "annotations.pubtator", format="pubtator")}
    assert docs[first_id].passages[0].text == "The later record with this id wins"
    assert "990001" in docs  # the empty abstract is annotated (title only), not dropped
    assert bc5["documents_annotated"] == 6


def test_long_document_is_annotated_to_its_end(annotated) -> None:
    out, manifests, _ = annotated
    assert manifests["long"]["windows"] > 100
    ends = sorted(m["end"] for m in _mentions(out, "long"))
    assert ends[-1] > LONG_CHARS - 500
    tenths = {end * 10 // LONG_CHARS for end in ends}
    assert tenths >= set(range(10)), "mentions in every tenth of the document"


def test_rerun_of_complete_shards_does_nothing(annotated, inputs, tiny_model) -> None:
    out, manifests, _ = annotated
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    again = run(
        ["--input", str(inputs / "*"), "--model", str(tiny_model), "--output", str(out), "--runner", "DirectRunner"]
    )
    assert {m["shard"]: m for m in again} == manifests
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before


def test_interrupted_shard_leaves_nothing_visible_and_reruns_cleanly(inputs, tiny_model, tmp_path) -> None:
    (tmp_path / ".biored-docs.tmp-crashed").mkdir()
    (tmp_path / ".biored-docs.tmp-crashed" / "mentions.parquet").write_bytes(b"partial")
    (tmp_path / "biored-docs").mkdir()  # as left by an object-store commit cut short: no manifest
    (tmp_path / "biored-docs" / "mentions.parquet").write_bytes(b"partial")
    manifest = annotate_shard(str(inputs / "biored-docs.parquet"), str(tiny_model), str(tmp_path), *MODEL_ARGS)
    assert manifest["documents_annotated"] == 3 and manifest["mentions"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["biored-docs"]
    assert len(_mentions(tmp_path, "biored-docs")) == manifest["mentions"]


def test_a_group_whose_inference_fails_is_dead_lettered_document_by_document(inputs, tiny_model, tmp_path) -> None:
    def failing(*args, **kwargs):
        raise RuntimeError("out of memory")

    with patch.object(KoGNER, "predict", failing):  # the in-process runner runs this very class
        manifest = annotate_shard(str(inputs / "biored-docs.parquet"), str(tiny_model), str(tmp_path), *MODEL_ARGS)
    assert (manifest["documents_in"], manifest["documents_annotated"], manifest["documents_dead_lettered"]) == (3, 0, 3)
    dead = pq.read_table(tmp_path / "biored-docs" / "dead_letter.parquet").to_pylist()
    biored = pq.read_table(inputs / "biored-docs.parquet")["id"].to_pylist()
    assert sorted(d["doc_id"] for d in dead) == sorted(biored) and {d["stage"] for d in dead} == {"inference"}
    assert [d["reason"] for d in dead] == ["inference failed: RuntimeError: out of memory"] * 3


def test_reconciliation_mismatch_fails_the_shard_loudly(tmp_path) -> None:
    shard = Shard(str(tmp_path / "in.jsonl"), "in", "jsonl")
    settings = Settings(str(tmp_path), str(tmp_path / "out"), "run", "v", 128, 16)
    stats = {"documents_in": 2, "input_sha256": "0", "input_bytes": 0, "deleted_pmids": [], "read_seconds": 0.0}
    dead = [("in", DeadLetter("a", "line 1", "read", "bad"))]
    with pytest.raises(ReconciliationError, match="2 documents in, 0 annotated \\+ 1 dead-lettered"):
        list(WriteShardFn(settings, {"in": shard}).process(("in", {"stats": [stats], "results": [], "dead": dead})))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "runner",
    [
        ["--runner", "DirectRunner", "--direct_running_mode", "multi_processing", "--direct_num_workers", "2"],
        ["--runner", "FnApiRunner"],
    ],
    ids=["direct-multi-processing", "fn-api"],
)
def test_other_runners_give_the_same_mentions(runner, annotated, inputs, tiny_model, tmp_path) -> None:
    out, _, _ = annotated
    argv = ["--input", str(inputs / "bc5-slice.txt"), "--model", str(tiny_model), "--output", str(tmp_path)]
    [manifest] = run([*argv, *MODEL_ARGS, *runner])
    assert manifest["documents_annotated"] == 6
    strip = [{k: v for k, v in m.items() if k != "run_id"} for m in _mentions(tmp_path, "bc5-slice")]
    expected = [{k: v for k, v in m.items() if k != "run_id"} for m in _mentions(out, "bc5-slice")]
    assert len(strip) == len(expected)
    for got, want in zip(strip, expected, strict=True):
        assert got == pytest.approx(want, abs=1e-5)


@pytest.fixture(scope="module")
def linked_model(tiny_model: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny model with a real (small) entity index: MeSH C14.280 heart diseases."""
    from teacher_kg_slice import write_mesh_slice

    from kogner.index import EntityIndex, build_index
    from kogner.teacher import TeacherSettings, train_teacher

    root = tmp_path_factory.mktemp("linked")
    settings = TeacherSettings(
        gt_steps=2, gt_batch_size=32, gt_hidden_dim=16, transr_dim=8, transr_epochs=1, text_max_length=16
    )
    kg = write_mesh_slice(data_dir, root / "kg", branches=("C14.280",))
    index_dir = build_index(train_teacher(kg, root / "teacher", settings), None, root / "index")
    model = KoGNER.from_pretrained(tiny_model)
    model.attach_index(EntityIndex.load(index_dir))
    return model.save_pretrained(root / "model"), index_dir


def test_a_worker_loads_one_model_for_inference_and_linking(linked_model) -> None:
    """The inference and linking stages of a worker share one model with its entity index, also
    from a pickled copy of the settings (as workers get them); without linking the index (GBs
    for a full KG) is never loaded."""
    model_dir, _ = linked_model
    settings = Settings(str(model_dir), "out", "run", "v", 128, 16, link=True)
    with patch.object(KoGNER, "from_pretrained", wraps=KoGNER.from_pretrained) as loads:
        model = KoGNERModelHandler(settings.worker_model()).load_model()
        assert pickle.loads(pickle.dumps(settings)).worker_model().acquire() is model
    assert loads.call_count == 1 and model.index is not None
    assert KoGNERModelHandler(str(model_dir)).load_model().index is None


def test_annotate_cli_without_linking_leaves_the_entity_index_unloaded(linked_model, data_dir, capsys) -> None:
    from kogner.cli import main
    from kogner.index import EntityIndex

    model_dir, _ = linked_model
    corpus = data_dir / "ner/NCBI-disease/pubtator/devel.txt"
    with patch.object(EntityIndex, "load", side_effect=AssertionError("index loaded")):
        assert main(["annotate", str(model_dir), str(corpus), "--no-link"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == sum(1 for _ in read_corpus(corpus))


def test_linking_stage_links_like_the_model_itself(linked_model, inputs, tmp_path) -> None:
    model_dir, index_dir = linked_model
    manifest = annotate_shard(str(inputs / "biored-docs.parquet"), str(model_dir), str(tmp_path), *MODEL_ARGS)
    assert manifest["linked"] and manifest["documents_annotated"] == 3
    rows = _mentions(tmp_path, "biored-docs")
    known = set(pq.read_table(index_dir / "entities.parquet")["entity_id"].to_pylist())
    linked = [r for r in rows if r["entity_id"] is not None]
    assert linked and {r["entity_id"] for r in linked} <= known
    # this KG holds diseases only: Disease mentions all link, Chemical mentions none
    assert {r["type"] for r in linked} == {"Disease"} and len(linked) < len(rows)
    model = KoGNER.from_pretrained(model_dir)
    for doc in pq.read_table(inputs / "biored-docs.parquet").to_pylist():
        found = [r for r in rows if r["doc_id"] == doc["id"]]
        mentions = [PredictedMention(r["start"], r["end"], r["text"], r["type"], r["score"]) for r in found]
        [expected] = model.link_mentions([doc["title"] + " " + doc["abstract"]], [mentions])
        assert [r["entity_id"] for r in found] == [m.entity_id for m in expected]


def test_a_model_linking_by_vector_is_linked_from_the_inference_stages_vectors(linked_model, inputs, tmp_path) -> None:
    """The span vectors travel from RunInference to the linking stage: no second encoder pass
    (the re-encoding path is made to fail), and the mentions link as ``predict`` links them."""
    model_dir, _ = linked_model
    model = KoGNER.from_pretrained(model_dir)
    model.config.link_strategy, model.config.link_min_score = "vector", -1.0  # every Disease mention by vector
    vector_model = str(model.save_pretrained(tmp_path / "vector-model"))
    one_window = ["--window_words", "1000"]  # each abstract one window, as ``predict`` reads it
    with patch.object(KoGNER, "span_vectors", side_effect=AssertionError("re-encoded for linking")):
        manifest = annotate_shard(
            str(inputs / "biored-docs.parquet"), vector_model, str(tmp_path), *MODEL_ARGS, *one_window
        )
    assert (manifest["documents_annotated"], manifest["documents_dead_lettered"]) == (3, 0)
    rows = _mentions(tmp_path, "biored-docs")
    assert any(r["entity_id"] for r in rows)
    for doc in pq.read_table(inputs / "biored-docs.parquet").to_pylist():
        [expected] = model.predict([doc["title"] + " " + doc["abstract"]], threshold=0.5)
        found = [(r["start"], r["end"], r["entity_id"]) for r in rows if r["doc_id"] == doc["id"]]
        assert found == [(m.start, m.end, m.entity_id) for m in expected]


def test_linking_runs_beside_the_worker_and_hands_on_every_document_once(linked_model, data_dir) -> None:
    """The linking stage links batches in a background thread: a call hands on the batches
    already linked and waits only when more than ``max_waiting`` batches wait; the end of the
    bundle hands on the rest. Every document once, in order, linked as the model links it; a
    document whose linking fails is dead-lettered alone, with the reason. The thread links on
    one core and leaves PyTorch's thread count for threads started later as it was."""
    model_dir, _ = linked_model
    documents = list(read_corpus(data_dir / "ner/NCBI-disease/pubtator/devel.txt"))[:5]
    model = KoGNER.from_pretrained(model_dir)
    found = model.predict([d.text for d in documents], threshold=0.5, link=False)
    expected = model.link_mentions([d.text for d in documents], found)
    assert any(m.entity_id for mentions in expected for m in mentions)
    keys = [("devel", n) for n in range(len(documents))]
    items = [(key, AnnotatedDocument(key, d, f, 1)) for key, d, f in zip(keys, documents, found, strict=True)]
    failing_text = documents[3].text
    link_mentions = KoGNER.link_mentions
    linking_allowed = threading.Event()

    def fails_on_the_fourth(self, texts, mentions, *args):
        linking_allowed.wait(timeout=60)  # a stage that waited for the thread would fail below, not hang
        if failing_text in texts:
            raise ValueError("bad alias table")
        return link_mentions(self, texts, mentions, *args)

    threads = torch.get_num_threads()
    stage = LinkDocuments(WorkerModel(str(model_dir), link=True), max_waiting=2)
    stage.setup()
    with patch.object(KoGNER, "link_mentions", fails_on_the_fourth):
        stage.start_bundle()
        first = list(stage.process(items[:2]))  # the linking thread is held: neither call waits for it
        second = list(stage.process(items[2:4]))
        linking_allowed.set()
        third = list(stage.process(items[4:]))  # three batches wait, more than two: the oldest is waited for
        last = [windowed.value for windowed in stage.finish_bundle()]
    stage.teardown()
    started_later: list[int] = []  # a thread started now (as Beam's may be) has the worker's thread count
    thread = threading.Thread(target=lambda: started_later.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert started_later == [threads]
    assert first == second == [] and [key for key, _ in third][:2] == keys[:2]
    results = third + last
    assert [key for key, _ in results] == keys
    dead = results[3][1]
    assert isinstance(dead, DeadLetter) and (dead.doc_id, dead.stage) == (documents[3].id, "link")
    assert dead.reason == "linking failed: ValueError: bad alias table"
    for (_, annotated), mentions in zip(results[:3] + results[4:], expected[:3] + expected[4:], strict=True):
        assert [(m.start, m.entity_id) for m in annotated.mentions] == [(m.start, m.entity_id) for m in mentions]

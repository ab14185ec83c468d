"""Pieces of the Beam annotation job that need no pipeline: windows and their merge, shard
names and formats, reading shards into documents and dead letters."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import PredictionResult
from apache_beam.pvalue import TaggedOutput
from transformers import AutoTokenizer

from kogner.corpora import read_corpus
from kogner.documents import Document
from kogner.encoder import resolve_encoder
from kogner.errors import OptionError
from kogner.model import KoGNERConfig, PredictedMention
from kogner.model.predictor import length_sorted
from kogner.model.spans import inference_chunks
from kogner.text import word_spans
from pipelines import shards
from pipelines.annotate import BATCHES_PER_GROUP, GroupDocuments, ReadShardFn, _merge, run
from pipelines.io import DeadLetter, guess_format, iter_shard, shard_name
from pipelines.shards import Shard, find_shards
from pipelines.windows import DocumentWindows, document_windows, merge_windows, to_document_offsets


@pytest.fixture(scope="module")
def document(data_dir: Path) -> Document:
    return next(iter(read_corpus(data_dir / "ner/BC5CDR/pubtator/test.txt")))


def test_windows_cover_every_word_with_the_overlap(document: Document) -> None:
    windows = document_windows(document, max_words=40, overlap=8)
    text = document.text
    assert len(windows) > 3
    assert windows[0].opens_text and windows[-1].closes_text
    assert not any(w.closes_text for w in windows[:-1])
    covered = {span for w in windows for span in word_spans(text) if w.start <= span[0] and span[1] <= w.end}
    assert covered == set(word_spans(text))
    for window, following in zip(windows, windows[1:], strict=False):
        assert text[window.start : window.end] == window.text
        shared = [s for s in word_spans(text) if following.start <= s[0] and s[1] <= window.end]
        assert len(shared) == 8


def _mention(text: str, start: int, end: int, score: float) -> PredictedMention:
    return PredictedMention(start, end, text[start:end], "Chemical", score)


def test_mentions_cut_by_an_interior_window_edge_are_dropped(document: Document) -> None:
    first, second = document_windows(document, max_words=40, overlap=8)[:2]
    edge = _mention(first.text, len(first.text) - 5, len(first.text), 0.9)
    inside = _mention(first.text, 0, 10, 0.8)  # at the start of the text: not cut
    assert [m.start for m in to_document_offsets(first, [edge, inside])] == [first.start]
    opening = _mention(second.text, 0, 4, 0.9)
    assert to_document_offsets(second, [opening]) == []


def test_merge_keeps_a_mention_seen_by_two_windows_once_with_its_best_score(document: Document) -> None:
    text = document.text
    first, second = document_windows(document, max_words=40, overlap=8)[:2]
    start, end = word_spans(text)[35]  # a word inside the overlap of both windows
    in_first = _mention(first.text, start - first.start, end - first.start, 0.6)
    in_second = _mention(second.text, start - second.start, end - second.start, 0.7)
    lone_start, lone_end = word_spans(text)[3]
    lone = _mention(first.text, lone_start, lone_end, 0.55)
    merged = merge_windows([(second, [in_second]), (first, [in_first, lone])])
    assert [(m.start, m.end, m.score) for m in merged] == [(lone_start, lone_end, 0.55), (start, end, 0.7)]
    assert all(m.text == text[m.start : m.end] for m in merged)


def test_merge_harmonizes_abbreviations_across_windows_when_the_model_says_so(data_dir: Path) -> None:
    # BC5CDR PMID 23949582: "Ifosfamide (IFO) ..." and IFO again in later windows (gold: all Chemical)
    [document] = [d for d in read_corpus(data_dir / "ner/BC5CDR/pubtator/test.txt") if d.id == "23949582"]
    gold_ifos = {(m.start, m.end) for m in document.mentions if m.text == "IFO" and m.type == "Chemical"}
    windows = document_windows(document, max_words=40, overlap=8)
    found: list[list[PredictedMention]] = [[] for _ in windows]
    start = document.text.index("Ifosfamide (IFO)")
    found[0] = [_mention(windows[0].text, start - windows[0].start, start + 10 - windows[0].start, 0.9)]
    result = PredictionResult(DocumentWindows(("s", 1), document, windows), found)
    _, plain = _merge(result, "greedy", False)
    _, harmonized = _merge(result, "greedy", True)
    assert [m.text for m in plain.mentions] == ["Ifosfamide"]
    ifos = [m for m in harmonized.mentions if m.text == "IFO"]
    assert {(m.start, m.end) for m in ifos} == gold_ifos and len(gold_ifos) == 7
    assert all(m.type == "Chemical" and m.score == 0.9 for m in ifos)


def test_documents_are_read_without_their_input_annotations(data_dir: Path) -> None:
    path = data_dir / "ner/BC5CDR/pubtator/test.txt"
    read = [d for d in ReadShardFn().process(Shard(str(path), "bc5", "pubtator")) if not isinstance(d, TaggedOutput)]
    gold = list(read_corpus(path))
    assert [document.id for _, document in read] == [d.id for d in gold] and sum(len(d.mentions) for d in gold) > 0
    assert all(not document.mentions and not document.relations for _, document in read)
    assert [document.text for _, document in read] == [d.text for d in gold]


def test_shard_names_and_formats(tmp_path: Path, data_dir: Path) -> None:
    assert shard_name("gs://bucket/pubmed/pubmed25n0001.xml.gz") == "pubmed25n0001"
    assert shard_name("/data/Dev.BioC.JSON") == "Dev.BioC"
    assert guess_format(str(data_dir / "ner/BioRED/Dev.BioC.XML")) == "bioc-xml"
    assert guess_format(str(data_dir / "pubmed/medline16n0902.xml.gz")) == "pubmed-xml"
    assert guess_format(str(data_dir / "ner/BC5CDR/pubtator/test.txt")) == "pubtator"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.jsonl").write_text("{}\n")
    (tmp_path / "b" / "x.jsonl").write_text("{}\n")
    with pytest.raises(ValueError, match="would both write shard 'x'"):
        find_shards([str(tmp_path / "*" / "x.jsonl")])
    with pytest.raises(FileNotFoundError, match="no input matches"):
        find_shards([str(tmp_path / "nothing-*.xml")])


def test_a_bad_json_line_is_dead_lettered_and_the_shard_goes_on(tmp_path: Path, document: Document) -> None:
    path = tmp_path / "docs.jsonl.gz"
    good = Document.from_text("1", "Aspirin-induced asthma.").to_dict()
    lines = [json.dumps(document.to_dict()), '{"id": "broken", "passages": [', json.dumps(good)]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    items = list(iter_shard(str(path), guess_format(str(path))))
    assert [getattr(i, "id", None) for i in items] == [document.id, None, "1"]
    assert isinstance(items[1], DeadLetter) and items[1].record == "line 2" and items[1].doc_id is None
    assert "not a JSON document" in items[1].reason


def _groups(documents: list[DocumentWindows], group_size: int) -> list[list[DocumentWindows]]:
    grouper = GroupDocuments(group_size)
    grouper.start_bundle()
    groups = [group for document in documents for group in grouper.process(document)]
    return groups + [value.value for value in grouper.finish_bundle()]


def test_groups_hold_whole_documents_and_close_once_they_reach_the_group_size(document: Document) -> None:
    short = Document.from_text("2", "Short text.")
    documents = [
        DocumentWindows(("s", n), d, document_windows(d, max_words=12, overlap=2))
        for n, d in enumerate([short, document, short, short, short])
    ]
    assert len(documents[1].windows) > 5
    groups = _groups(documents, group_size=3)
    assert [[d.key[1] for d in group] for group in groups] == [[0, 1], [2, 3, 4]]
    assert [sum(len(d.windows) for d in group) for group in groups] == [1 + len(documents[1].windows), 3]


def test_job_batches_pad_little_more_than_batches_sorted_over_all_windows(data_dir: Path) -> None:
    """Groups of documents in the order the job reads them, each cut into batches by subword
    count as ``predict`` cuts them, pad at most 1% more subwords than batches sorted over all
    windows at once."""
    tokenizer, config = AutoTokenizer.from_pretrained(resolve_encoder(None)), KoGNERConfig()
    documents = [
        DocumentWindows(("s", n), d, document_windows(d, config.window_words, config.window_overlap))
        for split in ("train", "devel")
        for n, d in enumerate(read_corpus(data_dir / f"ner/BC5CDR/pubtator/{split}.txt"))
    ]
    batch_size = 32

    def padded_subwords(group: list[DocumentWindows]) -> int:
        texts = [w.text for d in group for w in d.windows]
        chunks = inference_chunks(tokenizer, texts, config.window_words, config.window_overlap, config.max_subwords)
        return sum(len(b) * max(len(chunks[i].input_ids) for i in b) for b in length_sorted(chunks, batch_size))

    groups = _groups(documents, batch_size * BATCHES_PER_GROUP)
    assert sum(len(d.windows) for d in documents) > batch_size * BATCHES_PER_GROUP and len(groups) > 1
    assert sum(padded_subwords(group) for group in groups) <= 1.01 * padded_subwords(documents)


def test_object_store_commit_moves_files_with_the_manifest_last(tmp_path: Path, monkeypatch) -> None:
    staging, final = tmp_path / ".s.tmp-run", tmp_path / "s"
    staging.mkdir()
    for name in ("manifest.json", "mentions.parquet", "dead_letter.parquet"):
        (staging / name).write_text(name)
    renamed: list[str] = []
    real_rename = FileSystems.rename

    def rename(sources: list[str], destinations: list[str]) -> None:
        renamed.extend(Path(d).name for d in destinations)
        real_rename(sources, destinations)

    monkeypatch.setattr(shards, "has_directories", lambda path: False)
    monkeypatch.setattr(FileSystems, "rename", rename)
    shards.commit(str(staging), str(final), ["mentions.parquet", "manifest.json", "dead_letter.parquet"])
    assert renamed[-1] == "manifest.json" and sorted(renamed) == sorted(p.name for p in final.iterdir())
    assert not list(staging.iterdir())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--batch_size", "0"], "--batch_size must be at least 1, got 0"),
        (["--window_overlap", "64"], "--window_overlap must be ≥ 0, < --window_words 64, got 64"),
        (["--window_words", "8", "--window_overlap", "-1"], "--window_overlap must be ≥ 0, < --window_words 8"),
        (["--threshold", "2"], "--threshold must be in \\[0, 1\\], got 2.0"),
        (["--formats", "parquet,csv"], "unknown output formats \\['csv'\\]"),
    ],
)
def test_an_option_out_of_range_is_named_before_the_job_starts(tmp_path: Path, options, message) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"window_words": 64, "window_overlap": 16}))
    argv = ["--input", str(tmp_path / "missing.jsonl"), "--model", str(model), "--output", str(tmp_path / "out")]
    with pytest.raises(OptionError, match=message):
        run([*argv, *options])
    assert not (tmp_path / "out").exists()


def test_the_command_line_reports_a_bad_option_in_one_line(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    argv = ["--input", str(tmp_path / "x.jsonl"), "--model", str(model), "--output", str(tmp_path / "out")]
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.annotate", *argv, "--batch_size", "0"], capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == "pipelines.annotate: error: --batch_size must be at least 1, got 0"
    assert "Traceback" not in done.stderr

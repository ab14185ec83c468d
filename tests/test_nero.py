"""The NERO reader on the real packaged corpus (NERO-nlp)."""

from __future__ import annotations

import logging

import pytest

from kogner.corpora.nero import SPLITS, TYPES, default_path, locate, read_nero, split_of
from kogner.errors import InputFormatError
from kogner.text import word_spans


@pytest.fixture(scope="module")
def corpus():
    return read_nero()


def test_reads_every_sentence_of_the_packaged_corpus(corpus):
    stats = corpus.stats
    assert stats.rows == 217_564
    # 35,908 sentence rows in the package description; 35,899 distinct sentence texts.
    assert stats.sentences == 35_899
    assert sum(len(doc.passages) for doc in corpus.documents) == stats.sentences
    assert stats.mentions > 100_000
    assert {m.type for doc in corpus.documents for m in doc.mentions} == set(TYPES)


def test_mentions_are_located_at_word_boundaries(corpus):
    for doc in corpus.documents[:3000]:
        text = doc.text
        words = word_spans(text)
        starts, ends = {s for s, _ in words}, {e for _, e in words}
        previous_end = -1
        for mention in doc.mentions:
            assert text[mention.start : mention.end] == mention.text
            assert mention.start in starts and mention.end in ends
            assert mention.start >= previous_end, "gold mentions are flat"
            previous_end = mention.end


def test_unlocatable_entities_are_counted_and_logged(tmp_path, caplog):
    lines = default_path().read_bytes().split(b"\n")
    head = tmp_path / "annotation_results.txt"
    head.write_bytes(b"\n".join(lines[:3000]) + b"\n")
    with caplog.at_level(logging.INFO, logger="kogner.corpora.nero"):
        stats = read_nero(head).stats
    assert stats.rows == 2999
    assert stats.not_located > 0 and stats.not_located_examples
    assert stats.unmapped_classes["Process"] > 0
    assert f"{stats.not_located} entity strings could not be located" in caplog.text


def test_pmid_groups_and_deterministic_split(corpus):
    ids = [doc.id for doc in corpus.documents]
    assert len(ids) == len(set(ids))
    assert sum(doc_id.isdigit() for doc_id in ids) > 8000  # sentences with a PMID grouped by it
    sizes = {name: len(corpus.split(name)) for name in SPLITS}
    assert sum(sizes.values()) == len(ids)
    assert 0.75 < sizes["train"] / len(ids) < 0.85
    assert 0.07 < sizes["heldout"] / len(ids) < 0.13
    assert split_of("12127999") == split_of("12127999")
    heldout_pmid = next(doc for doc in corpus.split("heldout") if doc.id.isdigit())
    assert len(heldout_pmid.passages) >= 1
    assert all(p.kind == "sentence" for p in heldout_pmid.passages)


def test_type_selection_and_locate():
    assert locate("EGF", "EGFR ligands EGF , TGF") == [(13, 16)]
    assert locate("actin filament", "to actin  filament nucleation") == [(3, 18)]
    assert locate("statement 1", "no such thing") == []


def test_type_filter_rejects_unknown_types():
    with pytest.raises(ValueError, match="unknown NERO types"):
        read_nero(types=["Spaceship"])


def test_malformed_file_names_file_and_line(tmp_path):
    header = default_path().open(encoding="latin-1").readline().rstrip("\r\n")
    bad = tmp_path / "annotation_results.txt"
    bad.write_text(header + "\n" + "\t".join(["x"] * 5) + "\n", encoding="latin-1")
    with pytest.raises(InputFormatError, match=r"annotation_results.txt:2: 5 fields"):
        read_nero(bad)

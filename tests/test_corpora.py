"""Corpus readers and writers on the real corpora in the data directory."""

from __future__ import annotations

import io
import logging
from collections import Counter
from pathlib import Path

import pytest

from kogner.corpora import guess_format, read_corpus, write_corpus
from kogner.corpora.conll import decode_tags
from kogner.corpora.ids import join_ids, split_ids
from kogner.datasets import group_sentences, load_dataset
from kogner.documents import Document
from kogner.errors import InputFormatError, KognerError
from kogner.text import word_spans

PUBTATOR_FILES = [
    "ner/NCBI-disease/pubtator/train.txt",
    "ner/NCBI-disease/pubtator/devel.txt",
    "ner/NCBI-disease/pubtator/test.txt",
    "ner/BC5CDR/pubtator/train.txt",
    "ner/BC5CDR/pubtator/devel.txt",
    "ner/BC5CDR/pubtator/test.txt",
    "ner/BioRED/Train.PubTator",
    "ner/BioRED/Dev.PubTator",
]
CONLL_FILES = [
    f"ner/{corpus}/{split}.tsv"
    for corpus in ("NCBI-disease", "BC5CDR-chem", "BC5CDR-disease", "BC2GM")
    for split in ("train", "devel", "test")
]


@pytest.fixture(scope="module")
def corpus(data_dir: Path):
    """Parse each file once per module."""
    cache: dict[str, list[Document]] = {}

    def read(relative: str, **options) -> list[Document]:
        key = relative + repr(sorted(options.items()))
        if key not in cache:
            cache[key] = list(read_corpus(data_dir / relative, **options))
        return cache[key]

    return read


def type_counts(documents: list[Document]) -> Counter[str]:
    return Counter(mention.type for document in documents for mention in document.mentions)


def assert_consistent(documents: list[Document]) -> None:
    for document in documents:
        text = document.text
        for mention in document.mentions:
            assert text[mention.start : mention.end] == mention.text


@pytest.mark.parametrize("relative", PUBTATOR_FILES)
def test_every_pubtator_file_reads_with_matching_offsets(corpus, relative: str) -> None:
    documents = corpus(relative)
    assert documents and all(d.passages[0].kind == "title" for d in documents)
    duplicates = {doc_id for doc_id, n in Counter(d.id for d in documents).items() if n > 1}
    assert duplicates <= {"8528200"}  # NCBI-disease train really has this abstract twice
    assert_consistent(documents)


def test_pubtator_counts_match_the_corpus_documentation(corpus) -> None:
    ncbi = corpus("ner/NCBI-disease/pubtator/test.txt")
    assert (len(ncbi), sum(type_counts(ncbi).values())) == (100, 960)
    bc5cdr = corpus("ner/BC5CDR/pubtator/test.txt")
    assert len(bc5cdr) == 500
    assert type_counts(bc5cdr) == Counter({"Chemical": 5385, "Disease": 4424})
    biored = corpus("ner/BioRED/Train.PubTator")
    assert (len(biored), sum(type_counts(biored).values())) == (400, 13351)


def test_pubtator_ids_relations_and_extra_columns(corpus) -> None:
    bc5cdr = {d.id: d for d in corpus("ner/BC5CDR/pubtator/test.txt")}
    first = bc5cdr["8701013"]
    assert first.text.startswith("Famotidine-associated delirium. A series")
    assert first.passages[1].offset == len(first.passages[0].text) + 1
    assert (first.mentions[0].start, first.mentions[0].ids) == (0, ["D015738"])
    assert [(r.type, r.args) for r in first.relations] == [("CID", {"entity1": "D015738", "entity2": "D003693"})]
    mentions = [m for d in bc5cdr.values() for m in d.mentions]
    composite = next(m for m in mentions if m.text == "end-stage or malignant liver disease")
    assert composite.ids == ["D058625", "D017114"]
    assert composite.attributes["individual_mentions"] == "end-stage liver disease|malignant liver disease"
    assert any(m.ids == [] for m in mentions)  # "-1" means no id
    biored = corpus("ner/BioRED/Train.PubTator")
    relation = biored[0].relations[0]
    assert (relation.type, relation.attributes) == ("Association", {"novel": "No"})
    variants = [m for d in biored for m in d.mentions if m.type == "SequenceVariant" and "|" in "".join(m.ids)]
    assert variants and all(len(m.ids) == 1 for m in variants)  # tmVar ids keep their '|'


def test_id_fields_split_and_join() -> None:
    assert split_ids("D001|D002") == ["D001", "D002"]
    assert split_ids("443387,443538") == ["443387", "443538"]
    assert split_ids("-1") == [] and split_ids("") == []
    assert split_ids("p|SUB|V|204|D") == ["p|SUB|V|204|D"]
    assert split_ids("OMIM:222100") == ["OMIM:222100"]
    for ids in (["D001", "D002"], ["p|SUB|V|204|D"], ["7157"]):
        assert split_ids(join_ids(ids)) == ids


@pytest.mark.parametrize(
    "relative", ["ner/BC5CDR/pubtator/test.txt", "ner/BioRED/Train.PubTator", "ner/NCBI-disease/pubtator/train.txt"]
)
@pytest.mark.parametrize("format", ["pubtator", "jsonl"])
def test_pubtator_and_jsonl_round_trip(corpus, tmp_path: Path, relative: str, format: str) -> None:
    documents = corpus(relative)
    out = tmp_path / f"out.{format}"
    assert write_corpus(documents, out, format) == len(documents)
    assert list(read_corpus(out, format)) == documents


def test_gnormplus_offset_errors_are_reported_or_repaired(corpus, data_dir: Path, caplog) -> None:
    path = data_dir / "ner/GNormPlus/train.pubtator"
    with pytest.raises(InputFormatError) as error:
        list(read_corpus(path))
    assert error.value.record == 611 and str(error.value).startswith(f"{path}:611: ")
    with caplog.at_level(logging.WARNING):
        documents = corpus("ner/GNormPlus/train.pubtator", mismatch="repair")
    assert len(documents) == 432
    assert type_counts(documents)["Gene"] == 4246
    assert_consistent(documents)
    assert "train.pubtator:3421" in caplog.text and "dropped" in caplog.text


@pytest.mark.parametrize("relative", CONLL_FILES)
def test_every_conll_file_reads_one_document_per_sentence(corpus, data_dir: Path, relative: str) -> None:
    documents = corpus(relative)
    lines = (data_dir / relative).read_text(encoding="utf-8").split("\n\n")
    assert len(documents) == len([block for block in lines if block.strip()])
    assert_consistent(documents)
    assert all(m.type in {"Disease", "Chemical", "GENE"} for d in documents for m in d.mentions)


@pytest.mark.parametrize("name", ["bc5cdr-chem", "bc5cdr-disease"])
def test_bc5cdr_conll_sentences_group_back_into_their_abstracts(data_dir: Path, name: str) -> None:
    sentences = load_dataset(name, "test", data_dir)
    abstracts = load_dataset(name, "test", data_dir, whole_documents=True)
    sources = {d.id: d for d in load_dataset("bc5cdr", "test", data_dir)}
    assert len(sentences) == 4797 and len(abstracts) == 500 == len({d.id for d in abstracts} & set(sources))
    assert sum(len(d.mentions) for d in abstracts) == sum(len(d.mentions) for d in sentences)
    assert Counter(m.text for d in abstracts for m in d.mentions) == Counter(
        m.text for d in sentences for m in d.mentions
    )
    for doc in abstracts:  # each abstract's own text (spaced as the CoNLL tokens are), its mentions on it
        assert "".join(doc.text.split()) == "".join(sources[doc.id].text.split())
        assert_consistent([doc])
    assert len(load_dataset("bc2gm", "test", data_dir, whole_documents=True)) == 5038  # no source: sentences


def test_sentences_that_tile_no_source_document_are_an_error_naming_the_file(data_dir: Path) -> None:
    sentences = load_dataset("bc5cdr-chem", "dev", data_dir)
    sources = load_dataset("bc5cdr", "dev", data_dir)
    assert len(group_sentences(sentences, sources, "devel.tsv")) == 500
    with pytest.raises(KognerError, match=rf"devel\.tsv: the sentences from {sentences[1].id} on \(4580\)"):
        group_sentences(sentences[1:], sources, "devel.tsv")  # an abstract without its title


def test_conll_counts_and_seqeval_decoding(corpus) -> None:
    from seqeval.metrics.sequence_labeling import get_entities

    assert sum(type_counts(corpus("ner/NCBI-disease/test.tsv")).values()) == 960
    assert sum(type_counts(corpus("ner/BC2GM/test.tsv")).values()) == 6325
    cases = [
        ["I-X", "I-X", "O", "B-X", "I-Y", "I-Y", "B-Y", "E-Y", "S-X", "I-X", "O", "E-X"],
        ["B-X", "B-X", "I-X", "O", "I-X", "B-Y", "I-X"],
        ["O", "E-X", "I-X", "S-Y", "S-Y", "I-Y"],
    ]
    for tags in cases:
        assert decode_tags(tags) == get_entities(tags)


def test_pubtator_to_conll_keeps_word_aligned_mentions(corpus, tmp_path: Path) -> None:
    documents = corpus("ner/BC5CDR/pubtator/test.txt")[:100]
    expected: Counter[tuple[str, str]] = Counter()
    for document in documents:
        words = word_spans(document.text)
        starts, ends = {s for s, _ in words}, {e for _, e in words}
        taken: list[tuple[int, int]] = []
        for mention in document.mentions:
            overlaps = any(s < mention.end and mention.start < e for s, e in taken)
            if mention.start in starts and mention.end in ends and not overlaps:
                tokens = [document.text[s:e] for s, e in words if mention.start <= s and e <= mention.end]
                expected[(mention.type, " ".join(tokens))] += 1
            if not overlaps:
                taken.append((mention.start, mention.end))
    write_corpus(documents, tmp_path / "out.conll", "conll")
    converted = list(read_corpus(tmp_path / "out.conll"))
    assert Counter((m.type, m.text) for d in converted for m in d.mentions) >= expected
    assert sum(expected.values()) > 0.95 * sum(len(d.mentions) for d in documents)


def test_read_from_a_binary_file_object_names_it_in_errors(data_dir: Path) -> None:
    raw = (data_dir / "ner/BC5CDR/pubtator/test.txt").read_bytes()
    documents = list(read_corpus(io.BytesIO(raw), "pubtator", name="shard-7"))
    assert len(documents) == 500
    broken = raw.replace(b"8701013\t0\t10\tFamotidine", b"8701013\t1\t11\tFamotidine", 1)
    with pytest.raises(InputFormatError, match=r"^shard-7:3: mention 'Famotidine' at 1-11"):
        list(read_corpus(io.BytesIO(broken), "pubtator", name="shard-7"))
    with pytest.raises(InputFormatError, match="format must be given"):
        read_corpus(io.BytesIO(raw))


@pytest.mark.parametrize(
    "relative,expected",
    [
        ("ner/NCBI-disease/pubtator/test.txt", "pubtator"),
        ("ner/BioRED/Train.PubTator", "pubtator"),
        ("ner/GNormPlus/train.pubtator", "pubtator"),
        ("ner/BC2GM/test.tsv", "conll"),
        ("ner/BioRED/Dev.BioC.XML", "bioc-xml"),
        ("ner/BioRED/Dev.BioC.JSON", "bioc-json"),
        ("pubmed/medline16n0902.xml.gz", "pubmed-xml"),
    ],
)
def test_format_guessing(data_dir: Path, relative: str, expected: str) -> None:
    assert guess_format(data_dir / relative) == expected

"""``kogner corpus stats|convert`` and ``kogner score`` on the real files; bad input gives one line, exit 2."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from kogner.cli import main
from kogner.corpora import read_corpus
from kogner.errors import InputFormatError

FIXTURES = Path(__file__).parent / "fixtures" / "corpora"


def run_json(capsys, *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    "relative,documents,mentions,by_type",
    [
        ("ner/NCBI-disease/pubtator/test.txt", 100, 960, None),
        ("ner/BC5CDR/pubtator/test.txt", 500, 9809, {"Chemical": 5385, "Disease": 4424}),
        ("ner/BioRED/Train.PubTator", 400, 13351, None),
        ("pubmed/medline16n0902.xml.gz", 604, 0, {}),
    ],
)
def test_corpus_stats_counts(data_dir: Path, capsys, relative: str, documents: int, mentions: int, by_type) -> None:
    stats = run_json(capsys, "corpus", "stats", str(data_dir / relative))
    assert (stats["documents"], stats["mentions"]) == (documents, mentions)
    if by_type is not None:
        assert stats["mentions_by_type"] == by_type
    assert stats["deleted_citations"] == (1 if "pubmed" in relative else 0)


def test_corpus_convert_and_score(data_dir: Path, tmp_path: Path, capsys) -> None:
    gold = data_dir / "ner/BC5CDR/pubtator/test.txt"
    out = tmp_path / "test.bioc.json"
    assert run_json(capsys, "corpus", "convert", str(gold), str(out), "--to", "bioc-json")["documents"] == 500
    assert run_json(capsys, "corpus", "stats", str(out))["mentions_by_type"] == {"Chemical": 5385, "Disease": 4424}
    scores = run_json(capsys, "score", str(gold), str(out), "--dataset", "bc5cdr")
    assert scores["ner"]["f1"] == 1.0 and scores["linking"]["f1"] == 1.0
    assert scores["ner"]["per_type"]["Chemical"]["tp"] == 5385


BAD_INPUTS = [
    ("offset_mismatch.pubtator", "offset_mismatch.pubtator:4: mention 'delirium' at 23-31 does not match"),
    ("not_utf8.pubtator", "not_utf8.pubtator:1: not UTF-8"),
    ("empty.pubtator", "empty.pubtator: no PubTator document"),
    ("unknown_format.txt", "unknown_format.txt:1: cannot tell the corpus format"),
    (
        "truncated_bioc.xml",
        "truncated_bioc.xml:1: malformed or truncated XML at column 14994 (after document 14510914)",
    ),
    ("truncated_pubmed.xml", "truncated_pubmed.xml:37: malformed or truncated XML at column 30 (after PMID 38000001)"),
]


@pytest.mark.parametrize("name,message", BAD_INPUTS)
def test_bad_input_is_one_clear_line_naming_file_and_record(capsys, name: str, message: str) -> None:
    path = FIXTURES / name
    with pytest.raises(InputFormatError) as error:
        list(read_corpus(path))
    assert error.value.path == str(path)
    assert main(["corpus", "stats", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith(f"kogner: error: {path}") and message in err


def test_other_bad_inputs(data_dir: Path, tmp_path: Path, capsys) -> None:
    truncated = tmp_path / "truncated.xml.gz"
    truncated.write_bytes((data_dir / "pubmed/medline16n0902.xml.gz").read_bytes()[:50_000])
    with pytest.raises(InputFormatError, match=r"truncated\.xml\.gz.*(cannot read|truncated)"):
        list(read_corpus(truncated))
    bad_json = tmp_path / "bad.bioc.json"
    bad_json.write_text('{"documents": [\n{"id": "1", "passages": [}\n', encoding="utf-8")
    with pytest.raises(InputFormatError, match=r"bad\.bioc\.json:2: not JSON"):
        list(read_corpus(bad_json, "bioc-json"))
    assert main(["corpus", "stats", str(tmp_path / "missing.txt")]) == 2
    assert "missing.txt: no such file" in capsys.readouterr().err
    with pytest.raises(InputFormatError, match="unknown corpus format 'brat'"):
        read_corpus(data_dir / "ner/BC2GM/test.tsv", "brat")
    assert gzip.decompress((data_dir / "pubmed/medline16n0902.xml.gz").read_bytes())  # the source itself is sound

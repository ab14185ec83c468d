"""Strict scores: exact agreement with seqeval on perturbed real CoNLL files; linking scores."""

from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest
from seqeval.metrics import classification_report, f1_score
from seqeval.metrics.sequence_labeling import get_entities

from kogner.corpora import read_corpus
from kogner.datasets import load_dataset
from kogner.documents import Document, Mention
from kogner.evaluation import score_documents


def read_tagged(path: Path) -> tuple[list[list[str]], list[list[str]]]:
    """Tokens and tags per sentence, parsed independently of kogner's reader."""
    tokens: list[list[str]] = [[]]
    tags: list[list[str]] = [[]]
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if tokens[-1]:
                tokens.append([])
                tags.append([])
            continue
        token, tag = line.split("\t")
        tokens[-1].append(token)
        tags[-1].append(tag)
    return (tokens[:-1], tags[:-1]) if not tokens[-1] else (tokens, tags)


def perturb(tags: list[list[str]], rng: random.Random) -> list[list[str]]:
    """Drop, shift, retype, resize entities; IOB1-style and stray I- tags; random tag noise."""
    out = [list(sentence) for sentence in tags]
    for sentence in out:
        for type_, start, end in get_entities(sentence):
            action = rng.random()
            if action < 0.12:  # dropped
                sentence[start : end + 1] = ["O"] * (end - start + 1)
            elif action < 0.24 and end + 1 < len(sentence):  # shifted right by one token
                sentence[start : end + 2] = ["O", f"B-{type_}"] + [f"I-{type_}"] * (end - start)
            elif action < 0.34:  # retyped
                sentence[start : end + 1] = ["B-Other"] + ["I-Other"] * (end - start)
            elif action < 0.42 and end > start:  # shrunk
                sentence[end] = "O"
            elif action < 0.50:  # I- without B- (IOB1 style)
                sentence[start] = f"I-{type_}"
        for index in range(len(sentence)):
            if rng.random() < 0.02:
                sentence[index] = rng.choice(["O", "B-Other", "I-Other", "I-Disease", "B-GENE", "I-GENE", "E-GENE"])
    return out


def write_tagged(path: Path, tokens: list[list[str]], tags: list[list[str]]) -> None:
    lines = [
        "\n".join(f"{t}\t{g}" for t, g in zip(ts, gs, strict=True)) + "\n\n"
        for ts, gs in zip(tokens, tags, strict=True)
    ]
    path.write_text("".join(lines), encoding="utf-8")


@pytest.mark.parametrize(
    "relative,seed",
    [("ner/NCBI-disease/test.tsv", seed) for seed in range(3)] + [("ner/BC2GM/test.tsv", seed) for seed in range(2)],
)
def test_scores_equal_seqeval_on_perturbed_predictions(
    data_dir: Path, tmp_path: Path, relative: str, seed: int
) -> None:
    tokens, gold_tags = read_tagged(data_dir / relative)
    pred_tags = perturb(gold_tags, random.Random(seed))
    write_tagged(tmp_path / "pred.tsv", tokens, pred_tags)
    scores = score_documents(read_corpus(data_dir / relative), read_corpus(tmp_path / "pred.tsv"))["ner"]

    assert scores["f1"] == f1_score(gold_tags, pred_tags)
    assert 0.3 < scores["f1"] < 0.95  # the perturbation really changed things
    report = classification_report(gold_tags, pred_tags, output_dict=True, zero_division=0)
    micro = report["micro avg"]
    assert (scores["precision"], scores["recall"]) == (micro["precision"], micro["recall"])
    assert set(scores["per_type"]) == {key for key in report if not key.endswith("avg")}
    for type_, ours in scores["per_type"].items():
        theirs = report[type_]
        assert (ours["precision"], ours["recall"], ours["f1"]) == (
            theirs["precision"],
            theirs["recall"],
            theirs["f1-score"],
        )
        assert ours["tp"] + ours["fn"] == theirs["support"]


def test_identical_and_empty_predictions(data_dir: Path) -> None:
    gold = list(read_corpus(data_dir / "ner/NCBI-disease/test.tsv"))
    perfect = score_documents(gold, gold)["ner"]
    assert (perfect["f1"], perfect["tp"], perfect["fp"], perfect["fn"]) == (1.0, 960, 0, 0)
    empty = [Document(d.id, d.passages) for d in gold]
    nothing = score_documents(gold, empty)["ner"]
    assert (nothing["precision"], nothing["recall"], nothing["f1"], nothing["fn"]) == (0.0, 0.0, 0.0, 960)
    assert "linking" not in nothing


@pytest.fixture(scope="module")
def bc5cdr_test(data_dir: Path) -> list[Document]:
    return load_dataset("bc5cdr", "test", data_dir)


def test_linking_score_with_curies_composites_and_wrong_ids(bc5cdr_test: list[Document]) -> None:
    prefixes = {"Chemical": "MESH", "Disease": "MESH"}
    pred = copy.deepcopy(bc5cdr_test)
    linked = [m for d in pred for m in d.mentions if m.ids]
    unlinked = sum(1 for d in pred for m in d.mentions if not m.ids)
    for mention in linked:
        mention.ids = [f"MESH:{mention.ids[-1]}"]  # CURIE form; last member of composites
    wrong = linked[::10]
    for mention in wrong:
        mention.ids = ["MESH:D000000"]
    scores = score_documents(bc5cdr_test, pred, prefixes)
    assert scores["ner"]["f1"] == 1.0
    link = scores["linking"]
    assert (link["tp"], link["fp"], link["fn"]) == (len(linked) - len(wrong), len(wrong), len(wrong))
    assert unlinked > 0  # gold "-1" mentions are left out of the linking score
    assert score_documents(bc5cdr_test, pred)["linking"]["tp"] == 0  # without prefixes "D..." != "MESH:D..."


def test_strict_spans_types_and_duplicate_document_ids() -> None:
    def doc(doc_id: str, *mentions: tuple[int, int, str]) -> Document:
        document = Document.from_text(doc_id, "alpha beta gamma delta")
        document.mentions = [Mention(s, e, document.text[s:e], t) for s, e, t in mentions]
        return document

    gold = [doc("1", (0, 5, "A"), (6, 10, "B")), doc("1", (11, 16, "A"))]
    pred = [doc("1", (0, 5, "A"), (6, 11, "B")), doc("1", (11, 16, "B"), (11, 16, "A"))]
    scores = score_documents(gold, pred)["ner"]
    assert (scores["tp"], scores["fp"], scores["fn"]) == (2, 2, 1)
    assert scores["per_type"]["B"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "tp": 0, "fp": 2, "fn": 1}

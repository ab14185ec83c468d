"""Schwartz & Hearst abbreviation definitions on real abstracts of NCBI-disease and BC5CDR."""

from __future__ import annotations

from pathlib import Path

from kogner.abbreviations import definitions, expand, expand_in_documents, find_abbreviations
from kogner.datasets import load_dataset
from kogner.documents import Document
from kogner.model import PredictedMention
from kogner.model.decoding import harmonize_abbreviations


def _document(data_dir: Path, dataset: str, doc_id: str) -> Document:
    [document] = [d for d in load_dataset(dataset, "test", data_dir) if d.id == doc_id]
    return document


def test_long_form_then_short_form_in_an_ncbi_disease_abstract(data_dir: Path) -> None:
    # PMID 9950360: "... familial adenomatous polyposis (FAP) ... adenomatous polyposis coli (APC) ..."
    text = _document(data_dir, "ncbi-disease", "9950360").text
    found = find_abbreviations(text)
    assert [(a.short, a.long) for a in found] == [
        ("FAP", "familial adenomatous polyposis"),
        ("APC", "adenomatous polyposis coli"),
    ]
    for abbreviation in found:  # the long form's offsets: the definition itself, right before "(short"
        assert text[abbreviation.long_start : abbreviation.long_end] == abbreviation.long
        assert text[abbreviation.long_end :].startswith(f" ({abbreviation.short}")


def test_long_forms_start_at_the_word_matching_the_first_letter(data_dir: Path) -> None:
    # PMID 9949209 (Wilson disease, copper toxicosis) and 9674903 (hyphenated words count as words)
    assert definitions(_document(data_dir, "ncbi-disease", "9949209").text) == {
        "WD": "Wilson disease",
        "CT": "copper toxicosis",
        "FISH": "fluorescence in situ hybridization",
    }
    assert definitions(_document(data_dir, "ncbi-disease", "9674903").text)["PWS"] == "Prader-Willi syndrome"


def test_short_forms_inside_a_long_form_are_spelled_out(data_dir: Path) -> None:
    # PMID 9529364: "diffuse mesangial sclerosis (DMS)" ... "10 with isolated DMS (IDMS)"
    text = _document(data_dir, "ncbi-disease", "9529364").text
    assert ("IDMS", "isolated DMS") in [(a.short, a.long) for a in find_abbreviations(text)]
    assert definitions(text)["IDMS"] == "isolated diffuse mesangial sclerosis"


def test_short_form_then_long_form_in_parentheses(data_dir: Path) -> None:
    # BC5CDR PMID 20009434: "PTLD (post-transplantation lymphoproliferative disorder, Burkitt-type ..."
    text = _document(data_dir, "bc5cdr", "20009434").text
    assert "PTLD (post-transplantation lymphoproliferative disorder, Burkitt" in text  # cut at ", "
    assert definitions(text)["PTLD"] == "post-transplantation lymphoproliferative disorder"
    [ptld] = [a for a in find_abbreviations(text) if a.short == "PTLD"]
    assert text[ptld.long_start - len("PTLD (") : ptld.long_end] == "PTLD (" + ptld.long  # inside the parentheses


def test_parentheses_that_define_nothing_are_skipped(data_dir: Path) -> None:
    # PMID 9463309 has "(mean +/-SD = 0. 049 +/-0. 043 mg/ml; n = 6)" after "Hp"
    found = find_abbreviations(_document(data_dir, "ncbi-disease", "9463309").text)
    assert all(len(a.short) <= 10 and not a.short.startswith("mean") for a in found)
    assert find_abbreviations("in 12 patients (n = 6)") == []
    assert find_abbreviations("heart (x)") == []  # one-character short forms are never abbreviations


def test_expand_replaces_whole_words_of_defined_short_forms(data_dir: Path) -> None:
    defined = definitions(_document(data_dir, "ncbi-disease", "9950360").text)
    assert expand("FAP", defined) == "familial adenomatous polyposis"
    assert expand("FAP kindreds", defined) == "familial adenomatous polyposis kindreds"
    assert expand("FAPX", defined) == "FAPX" and expand("fap", defined) == "fap"  # words, case-sensitive
    assert expand("FAP", {}) == "FAP"


def test_expand_in_documents_uses_each_mentions_own_document(data_dir: Path) -> None:
    wilson = _document(data_dir, "ncbi-disease", "9949209").text
    polyposis = _document(data_dir, "ncbi-disease", "9950360").text
    assert expand_in_documents(["CT", "FAP", "FAP", "CT"], [wilson, wilson, polyposis, None]) == [
        "copper toxicosis",
        "FAP",
        "familial adenomatous polyposis",
        "CT",
    ]


def test_a_long_form_mention_spreads_its_type_to_every_free_short_form(data_dir: Path) -> None:
    # PMID 9950360 defines "familial adenomatous polyposis (FAP)"; gold marks every FAP as a disease
    document = _document(data_dir, "ncbi-disease", "9950360")
    gold_faps = {(m.start, m.end) for m in document.mentions if m.text == "FAP"}
    cancer = next(m for m in document.mentions if m.text == "colorectal cancer")
    long_form = PredictedMention(298, 328, "familial adenomatous polyposis", "Disease", 0.9)
    kept = PredictedMention(cancer.start, cancer.end, cancer.text, "Disease", 0.8)
    found = harmonize_abbreviations(document.text, [kept, long_form])
    added = [m for m in found if m.text == "FAP"]
    assert {(m.start, m.end) for m in added} == gold_faps and len(gold_faps) == 6
    assert all(m.type == "Disease" and m.score == 0.9 for m in added)
    assert kept in found and long_form in found and found == sorted(found, key=lambda m: m.start)
    # a mention on part of the long form neither spreads nor is dropped
    suffix = PredictedMention(307, 328, "adenomatous polyposis", "Disease", 0.7)
    assert harmonize_abbreviations(document.text, [suffix]) == [suffix]


def test_a_short_form_taken_by_another_mention_is_not_added_twice(data_dir: Path) -> None:
    document = _document(data_dir, "ncbi-disease", "9950360")
    first_fap = min(m.start for m in document.mentions if m.text == "FAP")
    around = PredictedMention(first_fap - 3, first_fap + 3, document.text[first_fap - 3 : first_fap + 3], "Gene", 0.6)
    long_form = PredictedMention(298, 328, "familial adenomatous polyposis", "Disease", 0.9)
    found = harmonize_abbreviations(document.text, [around, long_form])
    assert around in found
    assert not any(m.text == "FAP" and m.start < around.end and around.start < m.end for m in found)


def test_short_forms_of_a_long_form_no_mention_touches_are_dropped(data_dir: Path) -> None:
    # "adenomatous polyposis coli (APC)" is a gene: without a mention on the long form, APC mentions go
    document = _document(data_dir, "ncbi-disease", "9950360")
    apcs = [PredictedMention(m.start, m.end, m.text, "Disease", 0.6) for m in document.mentions if m.text == "APC"]
    faps = [PredictedMention(m.start, m.end, m.text, "Disease", 0.9) for m in document.mentions if m.text == "FAP"]
    assert len(apcs) == 6
    long_form = PredictedMention(298, 328, "familial adenomatous polyposis", "Disease", 0.9)
    assert harmonize_abbreviations(document.text, [*apcs, *faps, long_form]) == sorted(
        [*faps, long_form], key=lambda m: m.start
    )
    # a mention touching part of the long form keeps them
    partial = PredictedMention(380, 401, "adenomatous polyposis", "Disease", 0.5)
    assert len(harmonize_abbreviations(document.text, [*apcs, partial])) == len(apcs) + 1

"""Schwartz & Hearst abbreviation definitions on real abstracts of NCBI-disease and BC5CDR."""

from __future__ import annotations

from pathlib import Path

from kogner.abbreviations import Abbreviation, definitions, expand, expand_in_documents, find_abbreviations
from kogner.datasets import load_dataset
from kogner.documents import Document


def _document(data_dir: Path, dataset: str, doc_id: str) -> Document:
    [document] = [d for d in load_dataset(dataset, "test", data_dir) if d.id == doc_id]
    return document


def test_long_form_then_short_form_in_an_ncbi_disease_abstract(data_dir: Path) -> None:
    # PMID 9950360: "... familial adenomatous polyposis (FAP) ... adenomatous polyposis coli (APC) ..."
    found = find_abbreviations(_document(data_dir, "ncbi-disease", "9950360").text)
    assert found == [
        Abbreviation("FAP", "familial adenomatous polyposis"),
        Abbreviation("APC", "adenomatous polyposis coli"),
    ]


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
    assert Abbreviation("IDMS", "isolated DMS") in find_abbreviations(text)
    assert definitions(text)["IDMS"] == "isolated diffuse mesangial sclerosis"


def test_short_form_then_long_form_in_parentheses(data_dir: Path) -> None:
    # BC5CDR PMID 20009434: "PTLD (post-transplantation lymphoproliferative disorder, Burkitt-type ..."
    text = _document(data_dir, "bc5cdr", "20009434").text
    assert "PTLD (post-transplantation lymphoproliferative disorder, Burkitt" in text  # cut at ", "
    assert definitions(text)["PTLD"] == "post-transplantation lymphoproliferative disorder"


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

"""Span enumeration, word/subword alignment and chunking on real sentences."""

from __future__ import annotations

import pytest

from kogner.datasets import load_dataset
from kogner.encoder import load_encoder
from kogner.model.spans import (
    LOWER,
    MIXED,
    NO_CASE,
    TITLE,
    UPPER,
    case_class,
    collate,
    enumerate_spans,
    inference_chunks,
    make_chunks,
    training_ranges,
)
from kogner.text import word_spans, word_windows


@pytest.fixture(scope="module")
def tokenizer():
    return load_encoder(None)[0]


def test_enumerate_spans_covers_every_span_up_to_the_width() -> None:
    spans = enumerate_spans(5, 3)
    assert spans[:3] == [(0, 0), (0, 1), (0, 2)]
    assert len(spans) == 3 + 3 + 3 + 2 + 1
    assert all(0 <= j - i < 3 for i, j in spans)
    assert enumerate_spans(0, 3) == []


def test_unicode_words_align_to_their_own_subwords(tokenizer) -> None:
    text = "Naïve β-catenin mutations in Crohn’s disease (Ménétrier’s) — 5\u00a0mg/kg of 5-FU, 肝癌."
    (chunk,) = make_chunks(tokenizer, [(0, text, (0, len(text)))], max_length=128)
    assert chunk.words == word_spans(text)
    tokens = tokenizer.convert_ids_to_tokens(chunk.input_ids)
    offsets = tokenizer(text, return_offsets_mapping=True)["offset_mapping"]
    for (start, end), first, last in zip(chunk.words, chunk.word_first, chunk.word_last, strict=True):
        assert 0 < first <= last < len(tokens) - 1
        assert offsets[first][0] == start and offsets[last][1] == end, (text[start:end], tokens[first : last + 1])


def test_case_ids_keep_the_capitalization_the_uncased_tokenizer_drops(tokenizer, data_dir) -> None:
    cases = {
        "cl": LOWER,
        "Na": TITLE,
        "BRCA": UPPER,
        "A": UPPER,
        "mRNA": MIXED,
        "IgG": MIXED,
        "1": NO_CASE,
        "": NO_CASE,
    }
    assert {piece: case_class(piece) for piece in cases} == cases

    def is_acronym(text: str, span: tuple[int, int]) -> bool:
        return text[span[0] : span[1]].isupper() and span[1] - span[0] > 1

    doc = next(
        d for d in load_dataset("bc5cdr", "dev", data_dir) if any(is_acronym(d.text, w) for w in word_spans(d.text))
    )
    (cased,) = make_chunks(tokenizer, [(0, doc.text, (0, len(doc.text)))], max_length=512, case_classes=True)
    lowered = doc.text.lower()
    (uncased,) = make_chunks(tokenizer, [(0, lowered, (0, len(lowered)))], max_length=512, case_classes=True)
    assert cased.input_ids == uncased.input_ids  # what the encoder sees without case features
    assert len(cased.case_ids) == len(cased.input_ids)
    assert cased.case_ids[0] == cased.case_ids[-1] == NO_CASE  # [CLS], [SEP]
    assert {UPPER, TITLE, LOWER} <= set(cased.case_ids) and set(uncased.case_ids) <= {NO_CASE, LOWER}
    upper_word = next(w for w, span in enumerate(cased.words) if is_acronym(doc.text, span))
    assert cased.case_ids[cased.word_first[upper_word]] == UPPER
    batch = collate([cased, uncased], max_width=4, pad_id=0)
    assert batch.case_ids[0].tolist() == cased.case_ids + [NO_CASE] * (batch.case_ids.size(1) - len(cased.case_ids))


def test_long_abstract_is_windowed_within_the_subword_limit(tokenizer, data_dir) -> None:
    doc = load_dataset("ncbi-disease", "test", data_dir)[0]
    text = " ".join([doc.text] * 4)  # far beyond any max length
    chunks = inference_chunks(tokenizer, [text], window_words=200, overlap=8, max_length=48)
    assert all(len(c.input_ids) <= 48 for c in chunks)
    covered = {w for c in chunks for w in c.words}
    assert covered == set(word_spans(text))
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert after.start <= before.end  # consecutive windows overlap: no mention is cut in all of them
    batch = collate(chunks[:3], max_width=4, pad_id=0)
    assert batch.input_ids.shape[0] == 3 and int(batch.span_mask.sum()) == sum(
        len(enumerate_spans(len(c.words), 4)) for c in chunks[:3]
    )


def test_dense_ranges_split_down_to_single_words_and_stop(tokenizer, data_dir) -> None:
    """Subword-dense text under a tiny limit: ranges of every word count (odd ones too, which
    once split into themselves forever) are halved until each fits or is one word."""
    import signal

    doc = load_dataset("bc5cdr", "test", data_dir)[0]
    text = doc.text[:400]
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("splitting did not terminate"))
    signal.alarm(60)
    try:
        for overlap in (0, 2, 8):
            pieces = [(0, text, window) for window in word_windows(text, max_words=5, overlap=2)]
            chunks = make_chunks(tokenizer, pieces, max_length=5, overlap=overlap)
            assert all(len(c.input_ids) <= 5 or len(c.words) == 1 for c in chunks)
            assert {w for c in chunks for w in c.words} == set(word_spans(text))
            assert any(len(c.words) > 1 for c in chunks) and any(len(c.words) == 1 for c in chunks)
    finally:
        signal.alarm(0)


def test_training_ranges_keep_mentions_whole(data_dir) -> None:
    doc = load_dataset("ncbi-disease", "train", data_dir)[0]
    mentions = [(m.start, m.end) for m in doc.mentions]
    ranges = training_ranges(doc.text, mentions, max_words=64)
    for start, end in mentions:
        assert any(s <= start and end <= e for s, e in ranges)
    text = "Patients had Dr. Smith syndrome. Others did not."
    # the sentence splitter cuts after "Dr."; the mention across the cut merges the sentences
    assert training_ranges(text, [(13, 31)], max_words=64)[0] == (0, 32)

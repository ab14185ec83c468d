"""KG dictionary span features: which KG entity types a span's text is an alias of."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from kogner.datasets import load_dataset
from kogner.errors import InputFormatError
from kogner.index import EntityIndex
from kogner.kg.normalize import normalize_alias
from kogner.model import KoGNER
from kogner.model.dictionary import FILE_NAME, KGDictionary
from kogner.model.predictor import text_chunks
from kogner.model.spans import enumerate_spans


@pytest.fixture(scope="module")
def index(mesh_index_dir) -> EntityIndex:
    return EntityIndex.load(mesh_index_dir)


@pytest.fixture(scope="module")
def dictionary(index: EntityIndex) -> KGDictionary:
    return KGDictionary.from_index(index)


@pytest.fixture(scope="module")
def model(dictionary: KGDictionary) -> KoGNER:
    torch.manual_seed(0)
    return KoGNER.from_encoder(None, ["Disease", "Chemical"], dictionary, window_words=40, max_subwords=64)


@pytest.fixture(scope="module")
def texts(data_dir) -> list[str]:
    """BC5CDR abstracts that name heart diseases (the MeSH slice's C14.280)."""
    docs = load_dataset("bc5cdr", "dev", data_dir)
    return [d.text for d in docs if "arrhythmia" in d.text.lower() or "infarction" in d.text.lower()][:4]


def test_span_masks_equal_the_kg_types_of_each_whole_span_text(model, index, dictionary, texts) -> None:
    """Joining per-word keys is the same as normalizing the span's text, and the bits are the
    types of the KG entities having that alias; spans beginning or ending at punctuation get none."""
    bit = {t: 1 << position for position, t in enumerate(dictionary.types)}
    assert set(bit) == index.type_names
    marked = 0
    for chunk in text_chunks(model, texts):
        text = texts[chunk.source]
        spans = enumerate_spans(len(chunk.words), model.config.max_span_width)
        for (first, last), mask in zip(spans, dictionary.span_masks(chunk.word_keys, spans), strict=True):
            start, end = chunk.words[first][0], chunk.words[last][1]
            ends_are_words = text[start].isalnum() and text[end - 1].isalnum()
            rows = index.alias_rows.get(normalize_alias(text[start:end]), []) if ends_are_words else []
            assert mask == sum({bit[index.types[row]] for row in rows}), text[start:end]
            marked += mask != 0
    assert marked >= 10


def test_kg_dictionary_bits_change_exactly_the_spans_they_mark(model, texts) -> None:
    batch = model.collate(text_chunks(model, texts[:1]))
    marked = (batch.span_kg_types != 0) & batch.span_mask
    assert marked.any()
    model.eval()
    with torch.no_grad():
        with_bits = model.span_hidden(batch)
        batch.span_kg_types.zero_()
        without = model.span_hidden(batch)
    changed = (with_bits - without).abs().amax(dim=-1) > 1e-6
    assert torch.equal(changed & batch.span_mask, marked)


def test_save_load_round_trip_keeps_the_dictionary_and_the_predictions(model, dictionary, texts, tmp_path) -> None:
    before = model.predict(texts, threshold=0.3, link=False)
    path = model.save_pretrained(tmp_path / "m")
    loaded = KoGNER.from_pretrained(path)
    assert loaded.config.kg_dictionary_types == dictionary.types
    assert loaded.dictionary.masks == dictionary.masks
    assert loaded.predict(texts, threshold=0.3, link=False) == before


def test_a_missing_or_inconsistent_dictionary_file_is_one_clear_error(model, tmp_path) -> None:
    path = model.save_pretrained(tmp_path / "m")
    table = pq.read_table(path / FILE_NAME)
    pq.write_table(table.set_column(1, "types", pa.array([["Gene"]] * table.num_rows)), path / FILE_NAME)
    with pytest.raises(InputFormatError, match=rf"{FILE_NAME}:1: alias .*\['Gene'\] not in config\.json"):
        KoGNER.from_pretrained(path)
    (path / FILE_NAME).unlink()
    with pytest.raises(InputFormatError, match=rf"{FILE_NAME}.*missing"):
        KoGNER.from_pretrained(path)


def test_an_unreadable_dictionary_file_is_one_clear_error(model, tmp_path) -> None:
    path = model.save_pretrained(tmp_path / "m")
    (path / FILE_NAME).write_bytes(b"not parquet")
    with pytest.raises(InputFormatError, match=rf"{FILE_NAME}: not a KG dictionary table"):
        KoGNER.from_pretrained(path)

"""The shared building blocks: document text, tokens/windows, atomic writes, the encoder."""

from __future__ import annotations

import stat

import numpy as np
import pytest
from transformers import AutoModel

from kogner.corpora import read_corpus
from kogner.documents import Document, Mention, Passage
from kogner.encoder import StaticTextEncoder, TextEncoder, resolve_encoder
from kogner.errors import InputFormatError
from kogner.io import atomic_dir, atomic_path
from kogner.kg.normalize import normalize_alias, word_key
from kogner.text import sentence_spans, word_spans, word_windows


def test_document_text_places_passages_at_offsets_and_round_trips() -> None:
    doc = Document(
        id="1",
        passages=[Passage("title", 0, "Famotidine delirium."), Passage("abstract", 21, "Six cases.")],
        mentions=[Mention(0, 10, "Famotidine", "Chemical", ["MESH:D015738"])],
    )
    assert doc.text == "Famotidine delirium. Six cases."
    assert doc.text[0:10] == doc.mentions[0].text
    assert doc.passage_at(22).kind == "abstract"
    assert Document.from_dict(doc.to_dict()) == doc


def test_words_sentences_and_windows_cover_the_text() -> None:
    text = "IL-2 induced type II diabetes. In 5 patients (n=3) it resolved. " * 20
    words = [text[s:e] for s, e in word_spans(text)]
    assert words[:3] == ["IL", "-", "2"]
    assert len(sentence_spans(text)) == 40
    windows = word_windows(text, max_words=16, overlap=4)
    covered = {span for s, e in windows for span in word_spans(text) if s <= span[0] and span[1] <= e}
    assert covered == set(word_spans(text))
    with pytest.raises(ValueError):
        word_windows(text, max_words=4, overlap=4)


def test_atomic_outputs_leave_nothing_behind_on_failure(tmp_path) -> None:
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    with atomic_dir(tmp_path / "d") as tmp:
        (tmp / "a").write_text("x")
    assert (tmp_path / "d" / "a").read_text() == "x"
    assert [p.name for p in tmp_path.iterdir()] == ["d"]


def test_atomic_outputs_get_the_mode_of_an_ordinary_file_not_the_private_temporary_one(tmp_path) -> None:
    with atomic_path(tmp_path / "out.txt") as tmp:
        tmp.write_text("x")
    with atomic_dir(tmp_path / "d") as tmp:
        (tmp / "a").write_text("x")
    (tmp_path / "plain.txt").write_text("x")
    (tmp_path / "plain").mkdir()
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == stat.S_IMODE((tmp_path / "plain").stat().st_mode)


def test_normalize_alias_is_case_and_punctuation_insensitive() -> None:
    assert normalize_alias("Type II Diabetes-Mellitus") == normalize_alias("type ii  diabetes mellitus")


def test_word_key_is_normalize_alias_of_each_word(data_dir) -> None:
    """The ASCII shortcut changes nothing: every word of real abstracts and of Unicode text
    (ligatures, full-width letters, fractions, Greek, ß) gets its normalize_alias."""
    texts = [doc.text for doc in read_corpus(data_dir / "ner/BioRED/Dev.PubTator")]
    texts.append("½ ﬁbrosis Ⅻ İstanbul Straße naïve α-TNF ＡＢＣ ① under_score IL-2")
    words = {text[s:e] for text in texts for s, e in word_spans(text)}
    assert len(words) > 4000
    assert {word: word_key(word) for word in words} == {word: normalize_alias(word) for word in words}


def test_default_encoder_embeds_related_terms_closer() -> None:
    encoder = TextEncoder()
    vectors = encoder.encode(["heart attack", "myocardial infarction", "insulin receptor gene"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_cpu_encoder_runs_eager_attention_with_the_vectors_of_sdpa(data_dir) -> None:
    """Eager attention on CPU (faster on short texts) gives the vectors SDPA gives, on real
    mention texts: alias indexes built before it still answer its queries alike."""
    from kogner.datasets import load_dataset

    encoder = TextEncoder(device="cpu")
    assert encoder.model.config._attn_implementation == "eager"
    sdpa = TextEncoder(device="cpu")
    sdpa.model = AutoModel.from_pretrained(resolve_encoder(None), attn_implementation="sdpa").eval()
    assert sdpa.model.config._attn_implementation == "sdpa"
    docs = load_dataset("ncbi-disease", "test", data_dir)[:10]
    texts = list(dict.fromkeys(m.text for doc in docs for m in doc.mentions))
    eager_vectors, sdpa_vectors = encoder.encode(texts), sdpa.encode(texts)
    assert len(texts) > 20 and float((eager_vectors * sdpa_vectors).sum(1).min()) > 0.999


def test_encoder_batches_by_subword_count_without_changing_any_vector(data_dir) -> None:
    """Real mention texts of very different lengths, encoded in padded batches of 8, equal each
    text encoded alone (the padding is masked out), in the caller's order; no texts, no rows."""
    from kogner.datasets import load_dataset

    encoder = TextEncoder(batch_size=8)
    docs = load_dataset("bc5cdr", "test", data_dir)[:5]
    texts = list(dict.fromkeys(m.text for doc in docs for m in doc.mentions))[:40]
    texts.append("x" * 400)  # beyond max_length: truncated, not an error
    batched = encoder.encode(texts)
    alone = np.stack([encoder.encode([text])[0] for text in texts])
    assert len({len(encoder.tokenizer(t)["input_ids"]) for t in texts}) > 4
    assert np.allclose(batched, alone, atol=2e-2) and float((batched * alone).sum(1).min()) > 0.999
    assert encoder.encode([]).shape == (0, 384)


def test_static_encoder_distilled_on_real_mentions_approaches_the_contextual_one(data_dir, tmp_path) -> None:
    """Fitted on NCBI-disease train mention texts, the static table points closer to MiniLM's vectors
    than the subwords read alone did, on those texts and on test mentions it never saw; it
    round-trips through save/load; no text and a text without subwords are not errors."""
    from kogner.datasets import load_dataset

    encoder = TextEncoder(device="cpu")
    seen = sorted({m.text for d in load_dataset("ncbi-disease", "train", data_dir) for m in d.mentions})
    unseen = sorted({m.text for d in load_dataset("ncbi-disease", "test", data_dir) for m in d.mentions} - set(seen))
    assert len(seen) > 1000 and len(unseen) > 200
    untrained = StaticTextEncoder.distill(encoder, seen, epochs=0)
    static = StaticTextEncoder.distill(encoder, seen, epochs=4)

    def mean_cosine(model: StaticTextEncoder, texts: list[str]) -> float:
        return float((model.encode(texts) * encoder.encode(texts)).sum(1).mean())

    before, after = mean_cosine(untrained, seen), mean_cosine(static, seen)
    assert after > before + 0.05 and after > 0.9
    assert mean_cosine(static, unseen) > mean_cosine(untrained, unseen) + 0.03
    vectors = static.encode(unseen)
    assert vectors.shape == (len(unseen), 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    static.save(tmp_path)
    again = StaticTextEncoder.load(tmp_path, static.name, static.max_length)
    assert np.array_equal(again.encode(unseen), vectors)
    assert static.encode([]).shape == (0, 384) and static.encode(["   "]).shape == (1, 384)
    with pytest.raises(InputFormatError, match=StaticTextEncoder.FILE_NAME):
        StaticTextEncoder.load(tmp_path / "elsewhere", static.name, static.max_length)
    table = tmp_path / StaticTextEncoder.FILE_NAME
    table.write_bytes(table.read_bytes()[:100])  # cut short, as by an interrupted copy
    with pytest.raises(InputFormatError, match="not a static alias encoder table"):
        StaticTextEncoder.load(tmp_path, static.name, static.max_length)

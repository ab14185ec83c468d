"""From text to encoder inputs: chunks of words, their subwords, and the word spans to score.

Words come from ``kogner.text.word_spans`` (the project's one tokenizer). Each word is
aligned to its first and last subword through the fast tokenizer's character offsets,
so any Hugging Face fast tokenizer works (WordPiece, BPE, SentencePiece) and every span
maps back to exact character offsets. A chunk never holds more subwords than the encoder
accepts: a chunk that would is split further, never silently truncated.
"""

from __future__ import annotations

import bisect
import functools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from kogner.encoder import pad_ids
from kogner.kg.normalize import word_key
from kogner.model.dictionary import KGDictionary
from kogner.text import Span, sentence_spans, word_spans, word_windows

log = logging.getLogger(__name__)


@dataclass
class Chunk:
    """A piece of one text that the encoder reads at once.

    ``words`` are absolute character spans in the source text; ``word_first[w]`` and
    ``word_last[w]`` are the positions of word w's first and last subword in ``input_ids``.
    ``gold`` maps a word span (first word, last word) to its label index (training only);
    ``targets`` maps a gold word span to the row of its teacher vector (distillation only).
    ``case_ids`` holds each subword's ``case_class`` (an uncased tokenizer drops it); empty
    unless asked for (only a model with ``case_features`` reads them).
    """

    source: int
    words: list[Span]
    input_ids: list[int]
    word_first: list[int]
    word_last: list[int]
    word_keys: list[str]
    case_ids: list[int]
    gold: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    targets: dict[tuple[int, int], int] = field(default_factory=dict)
    group: str = ""

    @property
    def start(self) -> int:
        return self.words[0][0]

    @property
    def end(self) -> int:
        return self.words[-1][1]


def enumerate_spans(n_words: int, max_width: int) -> list[tuple[int, int]]:
    """Every (first word, last word) span of at most ``max_width`` words, in text order."""
    return list(_enumerated(n_words, max_width)[0])


@functools.lru_cache(maxsize=1024)
def _enumerated(n_words: int, max_width: int) -> tuple[tuple[tuple[int, int], ...], np.ndarray]:
    """``enumerate_spans`` as tuples and as an int64 (spans, 2) array, built once per length."""
    spans = tuple((i, j) for i in range(n_words) for j in range(i, min(i + max_width, n_words)))
    bounds = np.array(spans, dtype=np.int64).reshape(-1, 2)
    bounds.flags.writeable = False
    return spans, bounds


def align_words(words: Sequence[Span], offsets: Sequence[tuple[int, int]], base: int) -> tuple[list[int], list[int]]:
    """First and last subword of each word, from subword character offsets relative to ``base``.

    A word the tokenizer dropped (e.g. a control character) borrows its neighbour's subword,
    so every word has a position; special tokens (empty offsets) belong to no word."""
    starts = [s - base for s, _ in words]
    first: list[int | None] = [None] * len(words)
    last: list[int | None] = [None] * len(words)
    for position, (s, e) in enumerate(offsets):
        if e <= s:
            continue
        w = bisect.bisect_right(starts, s) - 1
        if w < 0 or s >= words[w][1] - base:
            continue
        if first[w] is None:
            first[w] = position
        last[w] = position
    fallback = 1 if len(offsets) > 1 else 0
    for w in range(len(words)):
        if first[w] is None:
            first[w] = last[w] = last[w - 1] if w > 0 else fallback
    return [int(p) for p in first], [int(p) for p in last]  # type: ignore[arg-type]


NO_CASE, LOWER, TITLE, UPPER, MIXED = range(5)  # the classes of ``case_class``
N_CASE_CLASSES = MIXED + 1  # rows of the case embedding


def case_class(piece: str) -> int:
    """How ``piece`` is capitalized: LOWER ("cl"), TITLE ("Na"), UPPER ("BRCA", "A"), MIXED
    ("mRNA", "IgG") or NO_CASE (no cased letter: "1", "-", a special token's empty string)."""
    if piece.islower():
        return LOWER
    if piece.isupper():
        return UPPER
    if piece.istitle():
        return TITLE
    return MIXED if piece.lower() != piece.upper() else NO_CASE


Piece = tuple[int, str, Span]  # (source, text, character range of the text)


def make_chunks(
    tokenizer: PreTrainedTokenizerBase,
    pieces: Iterable[Piece],
    max_length: int,
    overlap: int = 0,
    case_classes: bool = False,
) -> list[Chunk]:
    """Chunks for the (source, text, character range) ``pieces``, in their order, tokenized in
    one batch (the fast tokenizer's batch call is ~2x faster than one call per piece); a range
    with more than ``max_length`` subwords is split into overlapping word windows (``overlap``
    words) until each fits. ``case_classes``: fill each chunk's ``case_ids``."""
    worded = []
    for source, text, (start, end) in pieces:
        words = [(s + start, e + start) for s, e in word_spans(text[start:end])]
        if words:
            worded.append((source, text, words))
    if not worded:
        return []
    encodings = tokenizer(
        [text[words[0][0] : words[-1][1]] for _, text, words in worded],
        return_offsets_mapping=True,
        add_special_tokens=True,
        return_token_type_ids=False,  # neither is used, and converting them costs as much as tokenizing
        return_attention_mask=False,
    )
    chunks: list[Chunk] = []
    for (source, text, words), input_ids, offsets in zip(
        worded, encodings["input_ids"], encodings["offset_mapping"], strict=True
    ):
        start, end = words[0][0], words[-1][1]
        offsets = [tuple(o) for o in offsets]
        if len(input_ids) > max_length and len(words) > 1:
            half = (len(words) + 1) // 2
            step_overlap = min(overlap, len(words) - 1 - half)  # each window shorter than the range
            windows = word_windows(text[start:end], max_words=half + step_overlap, overlap=step_overlap)
            halves = [(source, text, (s + start, e + start)) for s, e in windows]
            chunks.extend(make_chunks(tokenizer, halves, max_length, overlap, case_classes))
            continue
        if len(input_ids) > max_length:
            log.warning(
                "a single word of %d subwords at %d-%d exceeds max_length %d: its span uses the first %d",
                len(input_ids),
                start,
                end,
                max_length,
                max_length,
            )
            input_ids = input_ids[: max_length - 1] + input_ids[-1:]
            offsets = offsets[: max_length - 1] + [(0, 0)]
        first, last = align_words(words, offsets, start)
        keys = [word_key(text[s:e]) for s, e in words]
        cases = [case_class(text[start + s : start + e]) for s, e in offsets] if case_classes else []
        chunks.append(Chunk(source, words, list(input_ids), first, last, keys, cases))
    return chunks


def inference_chunks(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    window_words: int,
    overlap: int,
    max_length: int,
    case_classes: bool = False,
) -> list[Chunk]:
    """Overlapping word windows over each whole text (long texts are never cut off); a
    chunk's source is its text's position in ``texts``."""
    pieces = [
        (source, text, window)
        for source, text in enumerate(texts)
        for window in word_windows(text, max_words=window_words, overlap=min(overlap, window_words - 1))
    ]
    return make_chunks(tokenizer, pieces, max_length, overlap, case_classes)


def training_ranges(text: str, mentions: Iterable[Span], max_words: int) -> list[Span]:
    """Sentences of ``text`` (merged where a mention crosses a sentence boundary), longer
    ones cut into windows of ``max_words`` words, so that gold spans rarely straddle chunks."""
    mentions = list(mentions)
    sentences: list[Span] = []
    for s, e in sentence_spans(text):
        if sentences and any(ms < s and me > sentences[-1][1] for ms, me in mentions):
            sentences[-1] = (sentences[-1][0], e)
        else:
            sentences.append((s, e))
    ranges: list[Span] = []
    for s, e in sentences:
        for ws, we in word_windows(text[s:e], max_words=max_words, overlap=0):
            ranges.append((ws + s, we + s))
    return ranges


@dataclass
class SpanBatch:
    """Padded tensors for a batch of chunks; ``spans[b]`` lists chunk b's word spans in order."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    case_ids: torch.Tensor
    span_first: torch.Tensor
    span_last: torch.Tensor
    span_width: torch.Tensor
    span_mask: torch.Tensor
    span_kg_types: torch.Tensor
    spans: list[list[tuple[int, int]]]

    def to(self, device: torch.device) -> SpanBatch:
        moved = {k: v.to(device) for k, v in vars(self).items() if isinstance(v, torch.Tensor)}
        return replace(self, **moved)


def collate(
    chunks: Sequence[Chunk],
    max_width: int,
    pad_id: int,
    spans: list[list[tuple[int, int]]] | None = None,
    dictionary: KGDictionary | None = None,
) -> SpanBatch:
    """Pad the chunks' subwords; score ``spans`` (default: every word span up to ``max_width``);
    ``span_kg_types`` holds each span's KG type mask from ``dictionary`` (0 without one).
    Filled as numpy arrays (a batch has tens of thousands of spans), then wrapped as tensors."""
    if spans is None:
        enumerated = [_enumerated(len(c.words), max_width) for c in chunks]
        spans = [list(tuples) for tuples, _ in enumerated]
        bounds = [array for _, array in enumerated]
    else:
        bounds = [np.asarray(chunk_spans, dtype=np.int64).reshape(-1, 2) for chunk_spans in spans]
    n_spans = max(1, max(len(s) for s in spans))
    input_ids, attention_mask = pad_ids([c.input_ids for c in chunks], pad_id)
    case_ids, _ = pad_ids([c.case_ids for c in chunks], NO_CASE)
    span_first, span_last, span_width, span_kg_types = np.zeros((4, len(chunks), n_spans), dtype=np.int64)
    span_mask = np.zeros((len(chunks), n_spans), dtype=bool)
    for b, (chunk, chunk_bounds) in enumerate(zip(chunks, bounds, strict=True)):
        n = len(chunk_bounds)
        if not n:
            continue
        first, last = chunk_bounds[:, 0], chunk_bounds[:, 1]
        span_first[b, :n] = np.asarray(chunk.word_first, dtype=np.int64)[first]
        span_last[b, :n] = np.asarray(chunk.word_last, dtype=np.int64)[last]
        span_width[b, :n] = last - first
        span_mask[b, :n] = True
        if dictionary is not None:
            span_kg_types[b, :n] = dictionary.span_masks(chunk.word_keys, chunk_bounds)
    tensors = [
        torch.from_numpy(array) for array in (input_ids, attention_mask, case_ids, span_first, span_last, span_width)
    ]
    return SpanBatch(*tensors, torch.from_numpy(span_mask), torch.from_numpy(span_kg_types), spans)

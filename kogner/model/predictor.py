"""Batch inference: texts -> overlapping windows -> span scores -> decoded, linked mentions."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import torch
from tqdm.auto import tqdm

from kogner.device import map_in_threads
from kogner.model.decoding import PredictedMention, decode, harmonize_abbreviations
from kogner.model.linking import link_predicted, links_by_vector
from kogner.model.spans import Chunk, SpanBatch, inference_chunks

if TYPE_CHECKING:
    from kogner.model.modeling import KoGNER


def text_chunks(model: KoGNER, texts: Sequence[str]) -> list[Chunk]:
    """Every text's overlapping windows, each within the encoder's maximum length."""
    config = model.config
    return inference_chunks(
        model.tokenizer, texts, config.window_words, config.window_overlap, config.max_subwords, config.case_features
    )


def length_sorted(chunks: Sequence[Chunk], batch_size: int) -> list[list[int]]:
    """Positions of ``chunks`` in batches of ``batch_size``, sorted by subword count (the
    least padding)."""
    order = sorted(range(len(chunks)), key=lambda i: len(chunks[i].input_ids))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def batches(
    model: KoGNER,
    chunks: Sequence[Chunk],
    batch_size: int,
    spans: Sequence[list[tuple[int, int]]] | None = None,
    progress: bool = False,
) -> Iterator[tuple[list[int], SpanBatch]]:
    """(chunk positions, batch on the model's device), chunks of similar length together."""
    for positions in tqdm(length_sorted(chunks, batch_size), desc="predicting", unit="batch", disable=not progress):
        yield (
            positions,
            model.collate([chunks[i] for i in positions], None if spans is None else [spans[i] for i in positions]),
        )


@torch.inference_mode()
def predict(
    model: KoGNER,
    texts: Sequence[str],
    types: Sequence[str] | None = None,
    threshold: float | None = None,
    batch_size: int = 16,
    link: bool = True,
    decoding: str | None = None,
    progress: bool = False,
    abbreviation_consistency: bool | None = None,
    span_vectors: bool = False,
) -> list[list[PredictedMention]]:
    """See ``KoGNER.predict``. Only the spans a boundary head finds plausible are scored (all
    without one, or for types the model was not trained on). Each span gets its best type;
    spans at or above ``threshold`` are candidates; the same span from two windows is one
    candidate (the higher score);
    with ``abbreviation_consistency`` (default: the model's setting) each text's decoded
    mentions are harmonized with the abbreviations it defines. A model that links by vector
    keeps each mention's span vector for linking (``link``) or, with ``span_vectors``, on the
    unlinked mentions returned, for ``link_mentions`` to link later without encoding again.
    On CPU with two or more cores the batches run in two threads (``map_in_threads``), each
    batch as it would be in one (the same scores, up to the last bit of fp32 arithmetic on some CPUs)."""
    types = list(types or model.types)
    if not types:
        raise ValueError("no entity types: pass types= or train the model with some")
    threshold = model.config.threshold if threshold is None else threshold
    was_training = model.training
    model.eval()
    chunks = text_chunks(model, texts)
    candidates: list[list[PredictedMention]] = [[] for _ in texts]
    keep_vectors = links_by_vector(model) and (span_vectors or (link and model.index is not None))
    type_vectors = model.type_vectors(types)
    filtering = (
        model.boundary_head is not None and model.config.boundary_threshold > 0 and set(types) <= set(model.types)
    )
    type_ids = [model.types.index(t) for t in types] if filtering else []
    bar_lock = threading.Lock()

    @torch.inference_mode()
    def score(positions: list[int]) -> list[tuple[int, PredictedMention]]:
        """(text, candidate mention) of one batch of chunks (``positions``)."""
        batch = model.collate([chunks[i] for i in positions])
        hidden = model.encode(batch)
        scored = model.plausible_spans(batch, hidden, type_ids) if filtering else batch.span_mask
        selected = scored.nonzero()  # (n, 2): chunk, span
        span_hidden = model.span_hidden(batch, hidden, selected)
        probabilities = torch.sigmoid(model.hidden_scores(span_hidden, type_vectors))
        best, best_type = probabilities.max(dim=-1)
        found = (best >= threshold).nonzero().squeeze(1)
        # Only candidates need a span vector (for linking): the output layer runs on them alone.
        if keep_vectors:
            found_vectors = model.span_output(span_hidden[found]).float().cpu().numpy()
        found_at, found_best, found_type = selected[found].tolist(), best[found].tolist(), best_type[found].tolist()
        mentions = []
        for k, ((b, s), probability, type_id) in enumerate(zip(found_at, found_best, found_type, strict=True)):
            chunk = chunks[positions[b]]
            first, last = batch.spans[b][s]
            start, end = chunk.words[first][0], chunk.words[last][1]
            mention = PredictedMention(start, end, texts[chunk.source][start:end], types[type_id], probability)
            if keep_vectors:
                mention.span_vector = found_vectors[k]
            mentions.append((chunk.source, mention))
        with bar_lock:
            bar.update()
        return mentions

    # Batches of chunks of similar length, in two threads on CPU (``map_in_threads``); each
    # batch is the same as in one thread, and the candidates are kept in batch order.
    ordered = length_sorted(chunks, batch_size)
    with tqdm(desc="predicting", unit="batch", total=len(ordered), disable=not progress) as bar:
        for found in map_in_threads(score, ordered, model.device):
            for source, mention in found:
                candidates[source].append(mention)
    results = [decode(found, decoding or model.config.decoding) for found in candidates]
    if abbreviation_consistency is None:
        abbreviation_consistency = model.config.abbreviation_consistency
    if abbreviation_consistency:
        results = [harmonize_abbreviations(text, found) for text, found in zip(texts, results, strict=True)]
    if link and model.index is not None:
        results = link_predicted(model, results, texts)
    model.train(was_training)
    return results

"""Linking detected mentions to KG entities through the attached ``EntityIndex``.

With a distilled projection ("vector" strategy) a mention links to the entity whose
teacher vector is nearest to P_s(span vector); the alias lookup of the mention text is
the fallback (no hit, or a similarity below ``link_min_score``). Without one ("alias"
strategy) the alias lookup alone is used. Given the mentions' text, the alias lookup reads
an abbreviation defined there (Schwartz & Hearst) as its long form. A mention links only to
entities of the KG types its own type allows (``KoGNERConfig.linkable_types``): a Chemical
mention never to a disease, an Anatomy mention not at all against a KG without anatomy. A link
scoring below ``link_threshold`` (chosen on dev by training) is not reported.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.nn import functional as F

from kogner.model.decoding import PredictedMention

if TYPE_CHECKING:
    from kogner.model.modeling import KoGNER


def links_by_vector(model: KoGNER) -> bool:
    """Whether ``model`` links a mention by its span vector (the "vector" strategy, with a P_s)."""
    return model.config.link_strategy == "vector" and model.student_projection is not None


def link_predicted(
    model: KoGNER, mentions: Sequence[Sequence[PredictedMention]], texts: Sequence[str | None]
) -> list[list[PredictedMention]]:
    """Per text, copies of its ``mentions`` with entity fields set and span vectors dropped.
    A mention with a span vector links by it when the model links by vector; any other by the
    alias lookup. ``texts[t]`` is text t itself (None when unknown). All texts go through one
    vector search and one alias lookup: faiss and the alias encoder are far faster on one
    large batch than on many small ones."""
    index = model.index
    linked = [[replace(m, span_vector=None) for m in found] for found in mentions]
    flat = [m for found in linked for m in found]
    if index is None or not flat:
        return linked
    flat_vectors = [m.span_vector for found in mentions for m in found]
    documents = [text for found, text in zip(linked, texts, strict=True) for _ in found]
    config = model.config
    allowed = [config.linkable_types(m.type) for m in flat]
    links: list[list] = [[] for _ in flat]
    with_vector = [i for i, v in enumerate(flat_vectors) if v is not None]
    if links_by_vector(model) and with_vector:
        with torch.inference_mode():
            stacked = torch.from_numpy(np.stack([flat_vectors[i] for i in with_vector])).to(model.device)
            projected = F.normalize(model.project(stacked).float(), dim=-1).cpu().numpy().astype(np.float32)
        for i, hits in zip(with_vector, index.search(projected, 1), strict=True):
            if hits and hits[0].score >= config.link_min_score and (allowed[i] is None or hits[0].type in allowed[i]):
                links[i] = hits
    fallback = [i for i, hits in enumerate(links) if not hits]
    found = index.lookup_each(
        [flat[i].text for i in fallback],
        [allowed[i] for i in fallback],
        documents=[documents[i] for i in fallback],
    )
    for i, hits in zip(fallback, found, strict=True):
        links[i] = hits
    for mention, hits in zip(flat, links, strict=True):
        if hits:
            mention.entity_id, mention.entity_name, mention.link_score = hits[0].entity_id, hits[0].name, hits[0].score
    return unlink_below(linked, config.link_threshold)


def unlink_below(mentions: Sequence[Sequence[PredictedMention]], threshold: float) -> list[list[PredictedMention]]:
    """``mentions`` without the links that score below ``threshold`` (the mentions themselves stay)."""
    unlinked = {"entity_id": None, "entity_name": None, "link_score": None}
    return [
        [m if m.link_score is not None and m.link_score >= threshold else replace(m, **unlinked) for m in found]
        for found in mentions
    ]


def link_mentions(
    model: KoGNER, texts: Sequence[str], mentions: Sequence[Sequence[PredictedMention]], batch_size: int = 16
) -> list[list[PredictedMention]]:
    """The linking step on its own, as ``predict`` links. A model that links by vector uses the
    span vectors the mentions carry (``predict(span_vectors=True)``); for mentions without one
    (e.g. gold mentions) it re-encodes the windows holding them first."""
    from kogner.model.predictor import batches, text_chunks

    missing = [(t, k) for t, found in enumerate(mentions) for k, m in enumerate(found) if m.span_vector is None]
    if model.index is None or not links_by_vector(model) or not missing:
        return link_predicted(model, mentions, texts)
    chunks = text_chunks(model, texts)
    requested: list[list[tuple[int, int]]] = [[] for _ in chunks]
    where: dict[tuple[int, int], tuple[int, int]] = {}
    by_source: dict[int, list[int]] = {}
    for c, chunk in enumerate(chunks):
        by_source.setdefault(chunk.source, []).append(c)
    for t, k in missing:
        mention = mentions[t][k]
        for c in by_source.get(t, []):
            chunk = chunks[c]
            if chunk.start <= mention.start and mention.end <= chunk.end:
                starts = [s for s, _ in chunk.words]
                ends = [e for _, e in chunk.words]
                span = (bisect.bisect_right(starts, mention.start) - 1, bisect.bisect_left(ends, mention.end))
                where[(t, k)] = (c, len(requested[c]))
                requested[c].append(span)
                break
    vectors: dict[tuple[int, int], np.ndarray] = {}
    if where:
        used = [c for c in range(len(chunks)) if requested[c]]
        was_training = model.training
        model.eval()
        with torch.inference_mode():
            for positions, batch in batches(model, [chunks[c] for c in used], batch_size, [requested[c] for c in used]):
                span_vectors = model.span_vectors(batch).float().cpu().numpy()
                for b, position in enumerate(positions):
                    for s in range(len(requested[used[position]])):
                        vectors[(used[position], s)] = span_vectors[b, s]
        model.train(was_training)
    with_vectors = [
        [replace(m, span_vector=vectors.get(where[(t, k)])) if (t, k) in where else m for k, m in enumerate(found)]
        for t, found in enumerate(mentions)
    ]
    return link_predicted(model, with_vectors, texts)

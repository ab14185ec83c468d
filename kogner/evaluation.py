"""Strict entity-level scores of predicted against gold documents.

NER: a predicted mention is correct only with the same document, start, end and type as a
gold mention; each distinct (document, start, end, type) counts once, as in seqeval (on
CoNLL input read by kogner.corpora.conll the scores equal seqeval's default-mode scores).

Linking: over gold mentions that have ids and predicted mentions that have ids, a
prediction is correct with the same span and type as a gold mention and an id among the
gold ids (a composite gold mention accepts any member). Ids are compared as CURIEs
(kogner.datasets.to_curie with ``id_prefixes``), so "D015738" and "MESH:D015738" agree.
Predicted ids on a span whose gold mention has no id are not judged.

Documents pair by id (the n-th document of an id in gold with the n-th one in pred).
Precision, recall and F1 are 0.0 where their denominator is 0 (seqeval's default).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from kogner.datasets import to_curie
from kogner.documents import Document

SpanKey = tuple[str, int, int, int, str]  # (document id, occurrence, start, end, type)


def score_documents(
    gold: Iterable[Document], pred: Iterable[Document], id_prefixes: dict[str, str] | None = None
) -> dict:
    """``{"ner": scores, "linking": scores}`` ("linking" only when a gold mention has ids)."""
    gold_ids = _mention_ids(gold, id_prefixes or {})
    pred_ids = _mention_ids(pred, id_prefixes or {})
    result = {"ner": _scores(set(gold_ids), set(pred_ids), set(gold_ids) & set(pred_ids))}
    linked_gold = {key for key, ids in gold_ids.items() if ids}
    if linked_gold:
        unjudged = {key for key, ids in gold_ids.items() if not ids}
        linked_pred = {key for key, ids in pred_ids.items() if ids and key not in unjudged}
        correct = {key for key in linked_pred & linked_gold if pred_ids[key] & gold_ids[key]}
        result["linking"] = _scores(linked_gold, linked_pred, correct)
    return result


def _mention_ids(documents: Iterable[Document], id_prefixes: dict[str, str]) -> dict[SpanKey, set[str]]:
    """Every distinct mention key with the union of its ids as CURIEs."""
    seen: Counter[str] = Counter()
    keys: dict[SpanKey, set[str]] = defaultdict(set)
    for document in documents:
        occurrence = seen[document.id]
        seen[document.id] += 1
        for mention in document.mentions:
            key = (document.id, occurrence, mention.start, mention.end, mention.type)
            keys[key].update(to_curie(raw, id_prefixes.get(mention.type)) for raw in mention.ids)
    return keys


def _scores(gold: set[SpanKey], pred: set[SpanKey], correct: set[SpanKey]) -> dict:
    types = sorted({key[-1] for key in gold | pred})
    per_type = {
        type_: _prf(
            sum(1 for k in correct if k[-1] == type_),
            sum(1 for k in pred if k[-1] == type_),
            sum(1 for k in gold if k[-1] == type_),
        )
        for type_ in types
    }
    return {**_prf(len(correct), len(pred), len(gold)), "per_type": per_type}


def _prf(tp: int, predicted: int, actual: int) -> dict:
    precision = tp / predicted if predicted else 0.0
    recall = tp / actual if actual else 0.0
    denominator = precision + recall
    f1 = 2 * precision * recall / denominator if denominator else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": predicted - tp, "fn": actual - tp}

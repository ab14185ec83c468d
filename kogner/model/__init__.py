"""The KoGNER student model: span bi-encoder NER with KG distillation and linking."""

from kogner.model.config import KoGNERConfig
from kogner.model.decoding import PredictedMention, decode, resolve_nested, resolve_overlaps
from kogner.model.modeling import KoGNER

__all__ = ["KoGNER", "KoGNERConfig", "PredictedMention", "decode", "resolve_nested", "resolve_overlaps"]

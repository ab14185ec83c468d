"""The student's configuration: a ``transformers.PretrainedConfig`` saved as config.json."""

from __future__ import annotations

from typing import Any

from transformers import AutoConfig, PretrainedConfig

from kogner.kg.schema import linkable_types


class KoGNERConfig(PretrainedConfig):
    """Everything needed to rebuild a KoGNER model (the encoder's own config included).

    ``encoder_config`` is the token encoder's config as a dict, so a saved model directory
    rebuilds its encoder without the original checkpoint; ``encoder_name`` only records
    where it came from. ``type_map`` renames corpus types onto the model's, as in
    training (e.g. NCBI-disease's "SpecificDisease" -> "Disease"). ``teacher_dim`` is 0
    until the model is given an entity index (then P_s maps span vectors into the teacher
    space). ``link_strategy`` is "vector" (nearest teacher vector of P_s(span); alias
    lookup below ``link_min_score``) or "alias" (the alias lookup alone); training picks the
    one that links more dev gold mentions correctly (``kogner.training.choose_link_strategy``).
    ``link_types`` names, per model type, the KG entity types its mentions may link to ([]:
    never linked); other types follow ``kogner.kg.schema.linkable_types`` (a "Chemical"
    mention links to Chemical entities only; a corpus's own type names link to any). A link
    scoring below ``link_threshold`` is not reported (training picks the one that maximizes dev
    NER+linking F1, ``kogner.training.choose_link_threshold``; 0 without dev ids).
    ``kg_dictionary_types`` are the KG entity types whose aliases mark spans
    (``kogner.model.dictionary``; empty: no dictionary features).
    ``case_features`` adds a learned vector per capitalization class (``kogner.model.spans.case_class``)
    to each subword's input embedding, so an uncased encoder still sees "NO" apart from "no".
    ``boundary_head`` adds a per-subword classifier of where a mention of each type may start and
    end, trained beside L_lang on the encoder's detached output (so it leaves the NER model as
    it would be without it); at inference only the spans whose first word may start and whose
    last word may end a mention (both probabilities at least ``boundary_threshold``, chosen on dev
    by training; 0 scores every span) go through the span head, a few percent of them.
    ``abbreviation_consistency`` makes each text's mentions agree with the abbreviations it
    defines (``kogner.model.decoding.harmonize_abbreviations``); training turns it on when
    that raises dev F1.
    """

    model_type = "kogner"

    def __init__(
        self,
        encoder_name: str = "all-MiniLM-L6-v2",
        encoder_config: dict[str, Any] | None = None,
        types: list[str] | None = None,
        type_descriptions: dict[str, str] | None = None,
        type_map: dict[str, str] | None = None,
        max_span_width: int = 12,
        span_dim: int = 256,
        width_dim: int = 32,
        use_pooled: bool = True,
        kg_dictionary_types: list[str] | None = None,
        case_features: bool = False,
        boundary_head: bool = False,
        boundary_threshold: float = 0.0,
        dropout: float = 0.1,
        tau: float = 1.0,
        pos_weight: float = 5.0,
        threshold: float = 0.5,
        decoding: str = "greedy",
        abbreviation_consistency: bool = False,
        max_subwords: int = 256,
        window_words: int = 128,
        window_overlap: int = 16,
        teacher_dim: int = 0,
        link_strategy: str = "alias",
        link_min_score: float = 0.0,
        link_types: dict[str, list[str]] | None = None,
        link_threshold: float = 0.0,
        index_dir: str | None = None,
        index_metadata: dict[str, Any] | None = None,
        model_version: str = "",
        **kwargs: Any,
    ) -> None:
        self.encoder_name = encoder_name
        self.encoder_config = encoder_config or {}
        self.types = list(types or [])
        self.type_descriptions = dict(type_descriptions or {})
        self.type_map = dict(type_map or {})
        self.max_span_width = max_span_width
        self.span_dim = span_dim
        self.width_dim = width_dim
        self.use_pooled = use_pooled
        self.kg_dictionary_types = list(kg_dictionary_types or [])
        self.case_features = case_features
        self.boundary_head = boundary_head
        if not 0.0 <= boundary_threshold < 1.0:  # a probability; 1 or more would score no span at all
            raise ValueError(f"boundary_threshold must be in [0, 1), got {boundary_threshold!r}")
        self.boundary_threshold = boundary_threshold
        self.dropout = dropout
        self.tau = tau
        self.pos_weight = pos_weight
        self.threshold = threshold
        self.decoding = decoding
        self.abbreviation_consistency = abbreviation_consistency
        self.max_subwords = max_subwords
        self.window_words = window_words
        self.window_overlap = window_overlap
        self.teacher_dim = teacher_dim
        self.link_strategy = link_strategy
        self.link_min_score = link_min_score
        for name, kg_types in (link_types or {}).items():
            if isinstance(kg_types, str) or not all(isinstance(t, str) for t in kg_types):
                raise ValueError(f"link_types[{name!r}] must be a list of KG entity types, got {kg_types!r}")
        self.link_types = {name: list(kg_types) for name, kg_types in (link_types or {}).items()}
        self.link_threshold = link_threshold
        self.index_dir = index_dir
        self.index_metadata = dict(index_metadata or {})
        self.model_version = model_version
        super().__init__(**kwargs)

    def linkable_types(self, mention_type: str) -> tuple[str, ...] | None:
        """The KG entity types a mention of ``mention_type`` may link to (None: any)."""
        if mention_type in self.link_types:
            return tuple(self.link_types[mention_type])
        return linkable_types(mention_type)


AutoConfig.register(KoGNERConfig.model_type, KoGNERConfig)

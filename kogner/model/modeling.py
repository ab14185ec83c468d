"""The KoGNER student: a span bi-encoder (GLiNER-style) with a head distilled toward the KG.

A span's vector comes from its boundary subword vectors, the mean of its subwords
(optional), a width embedding and (optional) the KG types its text is an alias of,
through a small MLP (with ``case_features``, each subword's input embedding first gets a
learned vector for how the original text capitalizes it, which an uncased tokenizer drops);
a type's vector from the same encoder reading the type name (and description), through
another MLP. The score of
(span, type) is sigmoid(span · type / τ). P_s maps span vectors into the teacher space of
the entity index, where L_dist pulls gold spans toward their entity's teacher vector and
where linking searches at inference.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from kogner.device import autocast, autocast_dtype, pick_device
from kogner.encoder import load_encoder, mean_pool
from kogner.errors import InputFormatError
from kogner.io import atomic_dir
from kogner.model.config import KoGNERConfig
from kogner.model.decoding import PredictedMention
from kogner.model.dictionary import KGDictionary
from kogner.model.spans import N_CASE_CLASSES, NO_CASE, Chunk, SpanBatch, collate

if TYPE_CHECKING:
    from kogner.index import EntityIndex

log = logging.getLogger(__name__)
WEIGHTS_NAME = "model.safetensors"


def mlp(in_dim: int, out_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_dim, out_dim * 2), nn.GELU(), nn.Dropout(dropout), nn.Linear(out_dim * 2, out_dim)
    )


def span_type_loss(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, pos_weight: float) -> torch.Tensor:
    """L_lang: binary cross-entropy over every valid (span, type) pair.

    All non-gold spans are negatives. Class imbalance (hundreds of negative spans per
    gold span) is handled with ``pos_weight`` on the positive term, and the loss is the
    mean over valid pairs; the decision threshold is then tuned on the dev split (which
    absorbs most of the weight: plain BCE ties on BC5CDR-chem, bench/RESULTS.md)."""
    weight = torch.tensor(pos_weight, device=logits.device, dtype=logits.dtype)
    losses = F.binary_cross_entropy_with_logits(logits, labels, pos_weight=weight, reduction="none")
    mask = mask.to(losses.dtype)
    return (losses * mask).sum() / mask.sum().clamp(min=1.0)


def boundary_loss(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the boundary logits (batch, subwords, 2, types) over ``mask``:
    the first subwords of words (starts) and their last subwords (ends), for the types the
    chunk's corpus annotates. Unweighted: the filter's threshold is chosen on dev, far below 0.5."""
    losses = F.binary_cross_entropy_with_logits(logits.float(), labels, reduction="none")
    mask = mask.to(losses.dtype)
    return (losses * mask).sum() / mask.sum().clamp(min=1.0)


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """L_dist: MSE between P_s(span vector) and P_t(teacher vector), both L2-normalized.

    P_t is the fixed L2 normalization (not a learned map: learning both sides lets MSE
    collapse both to zero, and linking must search the index's own teacher space)."""
    if student.numel() == 0:
        return student.sum() * 0.0
    return F.mse_loss(F.normalize(student.float(), dim=-1), F.normalize(teacher.float(), dim=-1))


class KoGNER(nn.Module):
    """Span bi-encoder NER model with KG distillation and linking (see module docstring)."""

    def __init__(
        self,
        config: KoGNERConfig,
        tokenizer: PreTrainedTokenizerBase,
        encoder: nn.Module | None = None,
        dictionary: KGDictionary | None = None,
    ):
        super().__init__()
        if (dictionary.types if dictionary else []) != config.kg_dictionary_types:
            raise ValueError("the KG dictionary's types differ from config.kg_dictionary_types")
        self.config = config
        self.tokenizer = tokenizer
        self.dictionary = dictionary
        if encoder is None:
            encoder_config = AutoConfig.for_model(**config.encoder_config)
            encoder = AutoModel.from_config(encoder_config)
        self.encoder = encoder
        hidden = int(self.encoder.config.hidden_size)
        span_in = hidden * (3 if config.use_pooled else 2) + config.width_dim + len(config.kg_dictionary_types)
        self.width_embedding = nn.Embedding(config.max_span_width, config.width_dim)
        self.case_embedding = None
        if config.case_features:  # starts at zero: the encoder's own input embeddings, unchanged
            self.case_embedding = nn.Embedding(N_CASE_CLASSES, hidden, padding_idx=NO_CASE)
            nn.init.zeros_(self.case_embedding.weight)
        self.span_head = mlp(span_in, config.span_dim, config.dropout)
        self.type_head = mlp(hidden, config.span_dim, config.dropout)
        self.student_projection = nn.Linear(config.span_dim, config.teacher_dim) if config.teacher_dim else None
        # Per subword and type: the logits of "a mention starts here" and "a mention ends here".
        # Initialized from a fork of the random state, so the rest of training draws what it
        # would draw without it (and it learns from detached encoder output: the NER model is
        # the one trained without a boundary head, bit for bit).
        with torch.random.fork_rng(devices=[]):
            self.boundary_head = nn.Linear(hidden, 2 * len(config.types)) if config.boundary_head else None
        self.index: EntityIndex | None = None
        self.inference_only = False
        self._type_cache: dict[tuple[str, ...], torch.Tensor] = {}

    # ---- construction, saving, loading -------------------------------------------------
    @classmethod
    def from_encoder(
        cls, encoder: str | None, types: Sequence[str], dictionary: KGDictionary | None = None, **config_kwargs: Any
    ) -> KoGNER:
        """A fresh (untrained) model on the Hugging Face encoder ``encoder`` (None = MiniLM),
        with KG dictionary features when given a ``dictionary``."""
        tokenizer, model = load_encoder(encoder)
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError(f"encoder {encoder!r} has no fast tokenizer; KoGNER needs its character offsets")
        limit = min(int(tokenizer.model_max_length), int(getattr(model.config, "max_position_embeddings", 512)))
        config_kwargs["max_subwords"] = min(int(config_kwargs.get("max_subwords", 256)), limit)
        config = KoGNERConfig(
            encoder_name=encoder or "all-MiniLM-L6-v2",
            encoder_config=model.config.to_dict(),
            types=list(types),
            kg_dictionary_types=dictionary.types if dictionary else [],
            **config_kwargs,
        )
        return cls(config, tokenizer, model, dictionary)

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        device: str | None = None,
        index_dir: str | Path | None = None,
        load_index: bool = True,
        inference_only: bool = False,
    ) -> KoGNER:
        """Load a saved model directory; attach its entity index (``index_dir``, default the one
        it names) when it can be found, unless ``load_index`` is False (no linking: the index
        can take GBs). ``inference_only``: see ``store_encoder_for_inference``."""
        path = Path(path)
        if not (path / WEIGHTS_NAME).is_file():
            raise FileNotFoundError(f"{path}: not a KoGNER model directory (no {WEIGHTS_NAME})")
        try:
            config = KoGNERConfig.from_pretrained(path)
        except ValueError as error:  # a hand-edited field, e.g. link_types
            raise InputFormatError(path / "config.json", None, str(error)) from error
        dictionary = KGDictionary.load(path, config.kg_dictionary_types) if config.kg_dictionary_types else None
        model = cls(config, AutoTokenizer.from_pretrained(path), dictionary=dictionary)
        model.load_state_dict(load_file(path / WEIGHTS_NAME))
        model.to(pick_device(device)).eval()
        if inference_only:
            model.store_encoder_for_inference()
        index_path = Path(index_dir) if index_dir else (Path(config.index_dir) if config.index_dir else None)
        if index_path is not None and load_index:
            if index_path.is_dir():
                from kogner.index import EntityIndex

                model.attach_index(EntityIndex.load(index_path))
            else:
                log.warning("entity index %s not found: mentions will not be linked", index_path)
        return model

    def save_pretrained(self, path: str | Path) -> Path:
        """Write config.json, model.safetensors, the tokenizer files and the KG dictionary atomically."""
        with atomic_dir(path) as tmp:
            state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
            save_file(state, tmp / WEIGHTS_NAME)
            digest = hashlib.sha256((tmp / WEIGHTS_NAME).read_bytes()).hexdigest()
            self.config.model_version = f"kogner-{digest[:12]}"
            self.config.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)
            if self.dictionary is not None:
                self.dictionary.save(tmp)
        return Path(path)

    @property
    def model_version(self) -> str:
        return self.config.model_version or "unsaved"

    @property
    def types(self) -> list[str]:
        return list(self.config.types)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def attach_index(self, index: EntityIndex) -> None:
        """Use ``index`` for distillation targets and linking; adds P_s if the model has none."""
        if self.student_projection is None:
            self.config.teacher_dim = int(index.dim)
            self.student_projection = nn.Linear(self.config.span_dim, index.dim).to(self.device)
        elif self.student_projection.out_features != index.dim:
            raise ValueError(f"index dim {index.dim} != the model's teacher dim {self.student_projection.out_features}")
        self.index = index
        path = getattr(index, "path", None)
        self.config.index_dir = str(Path(path).resolve()) if path is not None else None
        self.config.index_metadata = _index_metadata(index)

    def store_encoder_for_inference(self) -> None:
        """Keep the encoder's Linear weights in the autocast precision (bf16/fp16), which
        autocast otherwise casts them to on every batch: the same outputs, bit for bit, ~5% less
        encoder time on CPU and half the memory for those weights. Where the device computes in
        float32 there is nothing to do. The model cannot be trained afterwards."""
        dtype = autocast_dtype(self.device)
        if dtype is None:
            return
        for module in self.encoder.modules():
            if isinstance(module, nn.Linear):
                module.to(dtype)
        self.inference_only = True

    def train(self, mode: bool = True) -> KoGNER:
        """Entering training drops the cached type vectors: the weights are about to change.
        (``eval()`` keeps them, so repeated ``predict`` calls encode the type prompts once.)"""
        if mode and self.inference_only:
            raise RuntimeError(
                "this model was loaded with inference_only=True (reduced-precision weights): load it again to train"
            )
        if mode:
            self._type_cache.clear()
        return super().train(mode)

    # ---- the network -------------------------------------------------------------------
    def collate(self, chunks: Sequence[Chunk], spans: list[list[tuple[int, int]]] | None = None) -> SpanBatch:
        """A batch of ``chunks`` for this model (its span width, padding and KG dictionary), on its device."""
        pad_id = self.tokenizer.pad_token_id or 0
        return collate(chunks, self.config.max_span_width, pad_id, spans, self.dictionary).to(self.device)

    def encode(self, batch: SpanBatch, embedded: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, subwords, hidden): the encoder's output under the device's autocast, from
        ``embedded`` inputs when given (default: ``embed(batch)``)."""
        with autocast(self.device):
            return self.token_vectors(batch, embedded)

    def boundary_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(batch, subwords, 2, types): start and end logits of each subword for each model type."""
        if self.boundary_head is None:
            raise RuntimeError("the model has no boundary head (config.boundary_head is False)")
        with autocast(self.device):
            logits = self.boundary_head(hidden)
        return logits.float().unflatten(-1, (2, len(self.config.types)))

    def plausible_spans(self, batch: SpanBatch, hidden: torch.Tensor, type_ids: Sequence[int]) -> torch.Tensor:
        """(batch, spans) bool: the valid spans whose first word may start and whose last word
        may end a mention of one of the model types ``type_ids`` (both boundary probabilities at
        least ``config.boundary_threshold``)."""
        threshold = self.config.boundary_threshold
        cut = math.log(threshold / (1 - threshold)) if threshold > 0 else -math.inf  # the threshold's logit
        possible = self.boundary_logits(hidden)[..., list(type_ids)] >= cut  # (B, T, 2, K)
        chunk = torch.arange(hidden.size(0), device=hidden.device).unsqueeze(1)
        starts = possible[:, :, 0][chunk, batch.span_first]  # (B, S, K)
        ends = possible[:, :, 1][chunk, batch.span_last]
        return (starts & ends).any(dim=-1) & batch.span_mask

    def span_hidden(
        self, batch: SpanBatch, hidden: torch.Tensor | None = None, selected: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(batch, spans, 2·span_dim): the span MLP's hidden layer for every enumerated span, or
        (n, 2·span_dim) for the ``selected`` ones only ((n, 2) rows of (chunk, span)). ``hidden``:
        the batch's ``encode`` output when the caller has it already.

        The MLP's first layer is linear in its concatenated input [first; last; mean; width],
        so it is applied per subword (and per width) and each span sums its rows of that:
        first + last + (cumsum[last+1] - cumsum[first]) / length + width (+ bias) + the row of
        its KG type mask (the mask's bits times their columns of that layer; one row per
        distinct mask in the batch). The first and last blocks are applied only to the subwords
        that begin or end a span asked for (after the boundary filter, about a third of them;
        the same rows in 45% less time, bench/RESULTS.md). The same function as concatenating
        per span, at a fraction of the cost (a window has ~max_span_width times more spans than
        words); one ``embedding_bag`` forms the sums without materializing each gathered row. The
        per-subword product runs in the encoder's precision (bf16/fp16 under autocast). With
        gradients (training) the sums and the GELU run in float32; without (inference) in the
        encoder's precision too, which halves the span head's cost (it runs once per span,
        ~max_span_width times per word) for score deviations of the size the reduced-precision
        encoder already causes. The pooled block's prefix sums come from a matmul that accumulates
        in float32 (on CPU also for bf16 inputs: the same sums as a float32 cumsum after
        rounding) and, at inference, are rounded to the encoder's precision like the table's
        other rows, so a span's mean is a difference of rounded sums (taking it from float32
        sums instead moved test F1 by at most 0.06: NCBI-disease, BC5CDR; bench/RESULTS.md)."""
        first_layer: nn.Linear = self.span_head[0]
        n_blocks = 3 if self.config.use_pooled else 2
        n_kg_types = len(self.config.kg_dictionary_types)
        size = self.encoder.config.hidden_size
        token_weight, width_weight, kg_types_weight = first_layer.weight.split(
            [size * n_blocks, self.config.width_dim, n_kg_types], dim=1
        )
        if hidden is None:
            hidden = self.encode(batch)
        block_weights = token_weight.split(size, dim=1)  # first, last (, pooled)
        head_dtype = torch.float32 if torch.is_grad_enabled() else (autocast_dtype(self.device) or torch.float32)
        n_batch, n_tokens, _ = hidden.shape
        # Per span: its subword positions, width, KG type mask and chunk (each (B, S), or (n,)).
        first, last, width, kg_masks = batch.span_first, batch.span_last, batch.span_width, batch.span_kg_types
        row_of_chunk = torch.arange(n_batch, device=hidden.device).unsqueeze(1)
        if selected is not None:
            row_of_chunk, span = selected.unbind(dim=1)
            first, last, width, kg_masks = (t[row_of_chunk, span] for t in (first, last, width, kg_masks))
        # Row tables stacked into one: [first-subword rows; last-subword rows; cumsum rows; width
        # rows; KG mask rows], and per span the rows it sums, with their weights.
        tables: list[torch.Tensor] = []
        rows: list[torch.Tensor] = []
        subwords = hidden.flatten(0, 1)
        for weight, subword in zip(block_weights[:2], (first, last), strict=True):
            used, row = torch.unique(subword + row_of_chunk * n_tokens, return_inverse=True)
            with autocast(self.device):
                table = subwords[used] @ weight.T  # (used subwords, 2·span_dim)
            rows.append(row + sum(t.size(0) for t in tables))
            tables.append(table)
        ones = torch.ones(first.shape, device=hidden.device, dtype=head_dtype)
        weights = [ones, ones]
        if self.config.use_pooled:
            with autocast(self.device):
                pooled = hidden @ block_weights[2].T  # (B, T, 2·span_dim)
            # Prefix sums as one matmul: row t of ``below`` sums the subwords before t. On CPU
            # this is several times faster than a cumsum along the subwords, for the same sums.
            below = torch.ones(n_tokens + 1, n_tokens, device=hidden.device, dtype=head_dtype).tril(-1)
            cumulative = below @ pooled.to(head_dtype)  # (B, T + 1, 2·span_dim)
            base = sum(t.size(0) for t in tables) + row_of_chunk * (n_tokens + 1)
            tables.append(cumulative.flatten(0, 1))
            rows += [last + 1 + base, first + base]
            inverse_length = (last - first + 1).clamp(min=1).reciprocal().to(head_dtype)
            weights += [inverse_length, -inverse_length]
        width = width.clamp(max=self.config.max_span_width - 1)
        rows.append(width + sum(table.size(0) for table in tables))
        tables.append(self.width_embedding.weight @ width_weight.T + first_layer.bias)
        weights.append(ones)
        if n_kg_types:
            masks, mask_row = kg_masks.unique(return_inverse=True)
            bits = (masks.unsqueeze(-1) >> torch.arange(n_kg_types, device=hidden.device) & 1).float()
            rows.append(mask_row + sum(table.size(0) for table in tables))
            tables.append(bits @ kg_types_weight.T)  # (distinct masks, 2·span_dim)
            weights.append(ones)
        summed = F.embedding_bag(
            torch.stack(rows, dim=-1).view(-1, len(rows)),
            torch.cat([table.to(head_dtype) for table in tables]),
            per_sample_weights=torch.stack(weights, dim=-1).view(-1, len(rows)),
            mode="sum",
        ).unflatten(0, first.shape)  # (batch, spans, ·) or (n, ·); also for no span at all
        if torch.is_grad_enabled():
            return self.span_head[1](summed)
        # Inference: the GELU in place. The sums are not needed again, and allocating a fresh
        # (batch, spans, 2·span_dim) tensor for its output costs about as much as the GELU itself.
        return torch.ops.aten.gelu_(summed)

    def embed(self, batch: SpanBatch) -> torch.Tensor:
        """(batch, subwords, hidden): the encoder's input embeddings, cased when ``case_features``."""
        embedded = self.encoder.get_input_embeddings()(batch.input_ids)
        return embedded if self.case_embedding is None else embedded + self.case_embedding(batch.case_ids)

    def token_vectors(self, batch: SpanBatch, embedded: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, subwords, hidden): the encoder's output from ``embedded`` (default: ``embed(batch)``)."""
        if embedded is None and self.case_embedding is None:
            return self.encoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
        if embedded is None:
            embedded = self.embed(batch)
        return self.encoder(inputs_embeds=embedded, attention_mask=batch.attention_mask).last_hidden_state

    def span_output(self, span_hidden: torch.Tensor) -> torch.Tensor:
        """Span vectors from ``span_hidden`` output (the MLP's dropout and output layer), in float32."""
        output: nn.Linear = self.span_head[3]
        return output(self.span_head[2](span_hidden.to(output.weight.dtype)))

    def span_vectors(self, batch: SpanBatch) -> torch.Tensor:
        """(batch, spans, span_dim) vectors of every enumerated span."""
        return self.span_output(self.span_hidden(batch))

    def type_vectors(self, types: Sequence[str]) -> torch.Tensor:
        """(types, span_dim) vectors of the type prompts; cached while not training."""
        key = tuple(types)
        if not self.training and key in self._type_cache:
            return self._type_cache[key]
        prompts = [self._type_prompt(t) for t in types]
        encoded = self.tokenizer(prompts, padding=True, truncation=True, max_length=64, return_tensors="pt")
        encoded = {k: v.to(self.device) for k, v in encoded.items() if k in ("input_ids", "attention_mask")}
        with autocast(self.device):
            hidden = self.encoder(**encoded).last_hidden_state
        vectors = self.type_head(mean_pool(hidden.float(), encoded["attention_mask"]))
        if not self.training:
            self._type_cache[key] = vectors
        return vectors

    def _type_prompt(self, type_name: str) -> str:
        description = self.config.type_descriptions.get(type_name)
        return f"{type_name}: {description}" if description else type_name

    def scores(self, span_vectors: torch.Tensor, type_vectors: torch.Tensor) -> torch.Tensor:
        """Logits (batch, spans, types) = span · type / τ."""
        return span_vectors @ type_vectors.T / self.config.tau

    def hidden_scores(self, span_hidden: torch.Tensor, type_vectors: torch.Tensor) -> torch.Tensor:
        """``scores(span_output(span_hidden), type_vectors)`` without the per-span output layer
        (in eval mode): (W·h + b)·t = h·(Wᵀt) + b·t, so the output layer folds into the types."""
        output: nn.Linear = self.span_head[3]
        folded = (type_vectors @ output.weight).T.to(span_hidden.dtype)  # in span_hidden's precision
        return ((span_hidden @ folded).float() + type_vectors @ output.bias) / self.config.tau

    def project(self, span_vectors: torch.Tensor) -> torch.Tensor:
        """P_s: span vectors into the teacher space."""
        if self.student_projection is None:
            raise RuntimeError("the model has no teacher projection: attach an entity index first")
        return self.student_projection(span_vectors)

    # ---- inference ---------------------------------------------------------------------
    def predict(
        self,
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
        """Mentions of ``types`` (default: the model's) in each text, linked when an index is attached.
        Each text is one document: abbreviations defined in it are resolved within it
        (``abbreviation_consistency``, default: the model's setting). ``span_vectors``: unlinked
        mentions keep what ``link_mentions`` needs to link them later without encoding again."""
        from kogner.model.predictor import predict

        return predict(
            self, texts, types, threshold, batch_size, link, decoding, progress, abbreviation_consistency, span_vectors
        )

    def link_mentions(
        self, texts: Sequence[str], mentions: Sequence[Sequence[PredictedMention]], batch_size: int = 16
    ) -> list[list[PredictedMention]]:
        """Fill entity_id/entity_name/link_score of already detected mentions (copies)."""
        from kogner.model.linking import link_mentions

        return link_mentions(self, texts, mentions, batch_size)


def _index_metadata(index: Any) -> dict[str, Any]:
    """The index's own metadata (a copy kept in config.json) when it exposes any."""
    metadata = getattr(index, "meta", None)
    if isinstance(metadata, dict):
        return json.loads(json.dumps(metadata, default=str))
    return {"dim": int(index.dim)}

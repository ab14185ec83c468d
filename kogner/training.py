"""Training and evaluation of the KoGNER student (one ``train()`` loop, one ``test()``).

``train(config)`` reads the corpora (registry datasets and/or document files), cuts the
documents into sentence chunks (with an entity index, every span also reads which KG types
its text is an alias of), and optimizes L = L_lang + λ·L_dist with AdamW (separate
encoder/head learning rates, warmup + linear decay, clipping, accumulation), batches of
similar length, autocast on CUDA, deterministic on CPU. After each epoch it tunes the
decision threshold (and whether to harmonize abbreviations) on the dev split, with an
entity index also the link strategy and the minimum link score, logs
metrics (JSON Lines + a PNG of the curves), writes a resumable checkpoint, keeps the best
model by dev F1 and stops early. Extra datasets add training documents only; a final model
can train on train + dev with the decisions a train-only run tuned (``decisions_from``).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import random
import time
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from kogner.corpora import read_corpus
from kogner.documents import Document, Mention
from kogner.errors import InputFormatError, KognerError
from kogner.io import atomic_dir, atomic_path
from kogner.model import KoGNER, PredictedMention
from kogner.model.decoding import harmonize_abbreviations
from kogner.model.dictionary import KGDictionary
from kogner.model.linking import unlink_below
from kogner.model.modeling import boundary_loss, distillation_loss, span_type_loss
from kogner.model.spans import Chunk, SpanBatch, make_chunks, training_ranges

log = logging.getLogger(__name__)
THRESHOLDS = [round(0.05 * i, 2) for i in range(1, 20)]
# Boundary filter thresholds tried on dev, and the dev F1 the filter may cost (0.05 points).
BOUNDARY_THRESHOLDS = [0.003, 0.01, 0.03, 0.1]
BOUNDARY_TOLERANCE = 0.0005
LINK_THRESHOLDS = [0.0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]  # minimum link scores tried on dev


@dataclass
class TrainConfig:
    """What to train on and how. Paths in a TOML file are relative to the current directory."""

    output_dir: str
    encoder: str | None = None
    datasets: list[str] = field(default_factory=list)
    extra_datasets: list[str] = field(default_factory=list)  # registry names or document files: more training data only
    train_files: list[str] = field(default_factory=list)
    dev_files: list[str] = field(default_factory=list)
    file_format: str | None = None
    data_dir: str | None = None
    whole_documents: bool = False  # sentence corpora read in their abstracts (kogner.datasets.load_dataset)
    type_map: dict[str, str] = field(default_factory=dict)
    type_descriptions: dict[str, str] = field(default_factory=dict)
    max_span_width: int = 12
    max_words: int = 96
    max_subwords: int = 256
    span_dim: int = 256
    epochs: int = 10
    batch_size: int = 16
    grad_accumulation: int = 1
    encoder_lr: float = 1e-4  # 5e-5 underfits MiniLM in a few epochs (bench/RESULTS.md, NER)
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    freeze_word_embeddings: bool = True
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    pos_weight: float = 5.0
    adversarial_epsilon: float = 0.0  # FGM on the input embeddings (training_step); 0 = off
    lambda_dist: float = 0.0
    index_dir: str | None = None
    kg_dictionary: bool = True  # span features from the index's KG aliases (kogner.model.dictionary)
    case_features: bool = False  # subword capitalization into the encoder input (KoGNERConfig)
    boundary_head: bool = True  # score only the spans whose boundaries are plausible (KoGNERConfig)
    # A model trained on the train splits: train on train + dev with its dev-tuned decisions,
    # no tuning, the last epoch kept (BioBERT's final models; bench/RESULTS.md, NER).
    decisions_from: str | None = None
    seed: int = 13
    patience: int = 3
    max_train_docs: int | None = None
    max_dev_docs: int | None = None
    decoding: str = "greedy"
    device: str | None = None
    eval_batch_size: int = 32

    def __post_init__(self) -> None:
        """A number out of its range fails here, naming the setting, not deep inside training."""
        counts = ("max_span_width", "max_words", "max_subwords", "span_dim", "epochs", "batch_size")
        counts += ("grad_accumulation", "patience", "max_train_docs", "max_dev_docs", "eval_batch_size")
        rates = ("encoder_lr", "head_lr", "weight_decay", "adversarial_epsilon", "lambda_dist")
        rules: list[tuple[Sequence[str], Callable[[float], bool], str]] = [
            (counts, lambda value: value >= 1, "at least 1"),
            (rates, lambda value: value >= 0, "≥ 0"),
            (("max_grad_norm", "pos_weight"), lambda value: value > 0, "> 0"),
            (("warmup_ratio",), lambda value: 0 <= value <= 1, "between 0 and 1"),
        ]
        for names, allowed, rule in rules:
            for name in names:
                value = getattr(self, name)
                if value is not None and not allowed(value):
                    raise ValueError(f"{name} must be {rule}, got {value!r}")

    @classmethod
    def from_toml(cls, path: str | Path) -> TrainConfig:
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise InputFormatError(path, None, f"cannot read the training config: {error}") from error
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputFormatError(path, None, f"unknown keys {unknown}; known: {sorted(known)}")
        if "output_dir" not in data:
            raise InputFormatError(path, None, "output_dir is required")
        for f in fields(cls):  # numbers checked here, not as a TypeError deep inside training
            number = {"int": int, "int | None": int, "float": (int, float)}.get(str(f.type))
            value = data.get(f.name)
            if number and value is not None:
                if isinstance(value, bool) or not isinstance(value, number) or not math.isfinite(value):
                    kind = "an integer" if number is int else "a finite number"
                    raise InputFormatError(path, None, f"{f.name} must be {kind}, got {value!r}")
        try:
            return cls(**data)
        except ValueError as error:  # a number out of range (__post_init__)
            raise InputFormatError(path, None, str(error)) from error


@dataclass
class Corpus:
    """One training corpus: its documents, its own (mapped) types and its id prefixes."""

    name: str
    train: list[Document]
    dev: list[Document]
    types: list[str]
    id_prefixes: dict[str, str] = field(default_factory=dict)


def map_types(documents: Iterable[Document], type_map: dict[str, str]) -> list[Document]:
    """Copies of ``documents`` with mention types renamed by ``type_map`` (others kept)."""
    mapped = []
    for doc in documents:
        mentions = [
            Mention(m.start, m.end, m.text, type_map.get(m.type, m.type), list(m.ids), m.id, dict(m.attributes))
            for m in doc.mentions
        ]
        mapped.append(Document(doc.id, doc.passages, mentions, doc.relations, doc.metadata))
    return mapped


def _dev_split(splits: dict[str, str]) -> str | None:
    return next((name for name in ("dev", "devel", "validation") if name in splits), None)


def load_corpora(config: TrainConfig) -> list[Corpus]:
    """The registry datasets and the document files of ``config``, types mapped; then each
    of ``config.extra_datasets`` as more training data only (``extra_corpus``). With
    ``config.decisions_from``, every dev document is training data too (no dev splits)."""
    from kogner.datasets import DATASETS, load_dataset

    corpora = []
    for name in config.datasets:
        if name not in DATASETS:
            raise ValueError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")
        dataset = DATASETS[name]
        train = load_dataset(name, "train", config.data_dir, config.whole_documents)
        dev_name = _dev_split(dataset.splits)
        dev = load_dataset(name, dev_name, config.data_dir, config.whole_documents) if dev_name else []
        prefixes = {config.type_map.get(t, t): p for t, p in dataset.id_prefixes.items()}
        types = sorted({config.type_map.get(t, t) for t in dataset.types})
        corpora.append(_corpus(name, train, dev, types, prefixes, config))
    if config.train_files:
        train = [doc for path in config.train_files for doc in read_corpus(path, config.file_format)]
        dev = [doc for path in config.dev_files for doc in read_corpus(path, config.file_format)]
        types = sorted({config.type_map.get(m.type, m.type) for doc in train for m in doc.mentions})
        corpora.append(_corpus("files", train, dev, types, {}, config))
    if not corpora:
        raise ValueError("the training config names no datasets and no train_files")
    corpora += [extra_corpus(name, corpora, config) for name in config.extra_datasets]
    if config.decisions_from:
        corpora = [replace(corpus, train=corpus.train + corpus.dev, dev=[]) for corpus in corpora]
    return corpora


def extra_corpus(name: str, corpora: Sequence[Corpus], config: TrainConfig) -> Corpus:
    """Registry dataset ``name`` (its train and dev splits), or the document file ``name``
    (any readable format: e.g. abstracts another model labelled, silver data), as more
    training data for ``corpora``: only its mentions of their types (after
    ``config.type_map``; spans of its other types become negatives), none of its documents
    that ``corpora`` or their source datasets hold in any split (so no test abstract is
    trained on), and no dev split, so that tuning and early stopping stay on ``corpora``'s
    own dev splits."""
    from kogner.datasets import DATASETS, get_dataset, load_dataset

    if name in DATASETS:
        dataset = get_dataset(name)
        documents = [
            doc
            for split in ("train", "dev")
            if split in dataset.splits
            for doc in load_dataset(name, split, config.data_dir)
        ]
        their_types, prefixes = dataset.types, dataset.id_prefixes
    elif Path(name).is_file():
        documents = list(read_corpus(name))
        their_types, prefixes = sorted({m.type for doc in documents for m in doc.mentions}), {}
    else:
        raise ValueError(f"extra dataset {name!r} is neither a registry dataset ({sorted(DATASETS)}) nor a file")
    wanted = {t for corpus in corpora for t in corpus.types}
    types = sorted(wanted & {config.type_map.get(t, t) for t in their_types})
    if not types:
        raise ValueError(
            f"extra dataset {name!r} has none of the trained types {sorted(wanted)} "
            f"(its types {their_types}; map them with type_map)"
        )
    taken = {doc.id for corpus in corpora for doc in corpus.train + corpus.dev}
    for main in config.datasets:
        source = get_dataset(main).sentences_of or main
        taken |= {
            doc.id for split in get_dataset(source).splits for doc in load_dataset(source, split, config.data_dir)
        }
    kept = [doc for doc in map_types(documents, config.type_map) if doc.id not in taken]
    for doc in kept:
        doc.mentions = [m for m in doc.mentions if m.type in types]
    log.info(
        "extra training data %s: %d of %d documents (%d already in the trained corpora or their sources), types %s",
        name,
        len(kept),
        len(documents),
        len(documents) - len(kept),
        types,
    )
    return Corpus(name, kept, [], types, {config.type_map.get(t, t): p for t, p in prefixes.items()})


def _corpus(
    name: str, train: list[Document], dev: list[Document], types: list[str], prefixes: dict, config: TrainConfig
) -> Corpus:
    if not dev:  # no dev split: hold out every tenth training document
        train, dev = [d for i, d in enumerate(train) if i % 10], [d for i, d in enumerate(train) if not i % 10]
    train = map_types(train[: config.max_train_docs], config.type_map)
    dev = map_types(dev[: config.max_dev_docs], config.type_map)
    return Corpus(name, train, dev, types, prefixes)


def gold_curies(mention: Mention, prefixes: dict[str, str]) -> list[str]:
    """A gold mention's concept ids as CURIEs (the corpus's prefix for its type; "-1" = none)."""
    from kogner.datasets import to_curie

    prefix = prefixes.get(mention.type, "")
    return [to_curie(i, prefix) if prefix else i for i in mention.ids if i and i != "-1"]


def teacher_targets(
    index: Any,
    mentions: Sequence[Mention],
    prefixes: dict[str, str],
    documents: Sequence[str] | None = None,
    linkable_types: Callable[[str], Sequence[str] | None] = lambda _: None,
) -> list[np.ndarray | None]:
    """The teacher vector of each mention's entity: its gold ids (as CURIEs) when the index
    knows one, else the index's lookup of the mention text among the KG types
    ``linkable_types(mention type)`` (short forms defined in ``documents[k]``, mention k's
    text, looked up by their long form); None when neither finds one."""
    targets: list[np.ndarray | None] = [None] * len(mentions)
    missing = []
    for k, mention in enumerate(mentions):
        ids = gold_curies(mention, prefixes)
        if ids:
            vectors, found = index.teacher_vectors(ids)
            if found.any():
                targets[k] = vectors[int(np.argmax(found))]
                continue
        missing.append(k)
    if missing:
        texts = None if documents is None else [documents[k] for k in missing]
        links = index.lookup_each(
            [mentions[k].text for k in missing], [linkable_types(mentions[k].type) for k in missing], documents=texts
        )
        for k, hits in zip(missing, links, strict=True):
            if hits:
                vectors, found = index.teacher_vectors([hits[0].entity_id])
                targets[k] = vectors[0] if found[0] else None
    return targets


def build_chunks(
    model: KoGNER, corpus: Corpus, index: Any | None = None, teacher_rows: list[np.ndarray] | None = None
) -> list[Chunk]:
    """Training chunks of ``corpus`` with gold spans (type positions in ``model.types``) and,
    when ``index`` is given, the rows of their teacher vectors (appended to ``teacher_rows``).
    Teacher targets are found for the whole corpus at once (one batched alias lookup)."""
    config = model.config
    chunks: list[Chunk] = []
    lost = {"unaligned": 0, "too_wide": 0, "crossing": 0}
    placed: list[tuple[Chunk, tuple[int, int], Mention, str]] = []
    for doc in tqdm(corpus.train, desc=f"chunking {corpus.name}", unit="doc", leave=False):
        text = doc.text
        spans = [(m.start, m.end) for m in doc.mentions]
        ranges = training_ranges(text, spans, config.window_words)
        pieces = [(0, text, r) for r in ranges]
        doc_chunks = make_chunks(model.tokenizer, pieces, config.max_subwords, case_classes=model.config.case_features)
        for mention in doc.mentions:
            chunk = next((c for c in doc_chunks if c.start <= mention.start and mention.end <= c.end), None)
            if chunk is None:
                lost["crossing"] += 1
                continue
            first = next((w for w, (s, _) in enumerate(chunk.words) if s == mention.start), None)
            last = next((w for w, (_, e) in enumerate(chunk.words) if e == mention.end), None)
            if first is None or last is None:
                lost["unaligned"] += 1
            elif last - first >= config.max_span_width:
                lost["too_wide"] += 1
            elif mention.type in model.types:
                chunk.gold.setdefault((first, last), []).append(model.types.index(mention.type))
                placed.append((chunk, (first, last), mention, text))
        for chunk in doc_chunks:
            chunk.group = corpus.name
        chunks.extend(doc_chunks)
    if any(lost.values()):
        log.warning("%s: gold mentions not trainable: %s", corpus.name, lost)
    if index is not None and teacher_rows is not None and placed:
        _, _, mentions, texts = zip(*placed, strict=True)
        targets = teacher_targets(index, mentions, corpus.id_prefixes, texts, config.linkable_types)
        for (chunk, span, _, _), target in zip(placed, targets, strict=True):
            if target is not None:
                chunk.targets[span] = len(teacher_rows)
                teacher_rows.append(target)
    return chunks


def length_batches(chunks: Sequence[Chunk], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Batches of chunk positions: shuffled, sorted by length within pools of 50 batches."""
    order = list(range(len(chunks)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        part = sorted(order[start : start + pool], key=lambda i: len(chunks[i].input_ids))
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def batch_loss(
    model: KoGNER,
    chunks: Sequence[Chunk],
    batch: SpanBatch,
    allowed: torch.Tensor,
    teacher: torch.Tensor | None,
    lambda_dist: float,
    embedded: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """L = L_lang + λ·L_dist (+ L_boundary with a boundary head) of one batch, and each term
    as a float; ``allowed[b]`` masks the types of chunk b's corpus; ``embedded``: the
    encoder's input embeddings, when not the batch's own (``KoGNER.embed``)."""
    hidden = model.encode(batch, embedded)
    span_vectors = model.span_output(model.span_hidden(batch, hidden))
    logits = model.scores(span_vectors, model.type_vectors(model.types))
    labels = torch.zeros_like(logits)
    student_rows, teacher_rows = [], []
    for b, chunk in enumerate(chunks):
        position = {span: s for s, span in enumerate(batch.spans[b])}
        for span, type_ids in chunk.gold.items():
            labels[b, position[span], type_ids] = 1.0
        for span, row in chunk.targets.items():
            student_rows.append((b, position[span]))
            teacher_rows.append(row)
    mask = batch.span_mask.unsqueeze(-1) & allowed.unsqueeze(1)
    lang = span_type_loss(logits, labels, mask, model.config.pos_weight)
    if lambda_dist > 0 and teacher is not None and student_rows:
        b_index, s_index = zip(*student_rows, strict=True)
        student = model.project(span_vectors[list(b_index), list(s_index)])
        dist = distillation_loss(student, teacher[teacher_rows])
    else:
        dist = lang.new_zeros(())
    loss = lang + lambda_dist * dist
    terms = {"loss_lang": float(lang.detach()), "loss_dist": float(dist.detach())}
    if model.boundary_head is not None:
        # On detached encoder output: the filter learns from the NER model and never changes it.
        boundary = boundary_loss(model.boundary_logits(hidden.detach()), *boundary_targets(batch, labels, allowed))
        loss = loss + boundary
        terms["loss_boundary"] = float(boundary.detach())
    return loss, {"loss": float(loss.detach()), **terms}


def boundary_targets(
    batch: SpanBatch, labels: torch.Tensor, allowed: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels and mask (batch, subwords, 2, types) for ``boundary_loss``: a word's first subword
    is a start and its last subword an end of each type a gold span of ``labels`` (batch, spans,
    types) has there; scored at every word's first and last subword, for the ``allowed`` types."""
    n_batch, n_tokens = batch.input_ids.shape
    targets = labels.new_zeros(n_batch, n_tokens, 2, labels.size(-1))
    words = labels.new_zeros(n_batch, n_tokens, 2, dtype=torch.bool)
    chunk = torch.arange(n_batch, device=labels.device).unsqueeze(1).expand_as(batch.span_first)
    valid = batch.span_mask
    words[chunk[valid], batch.span_first[valid], 0] = True
    words[chunk[valid], batch.span_last[valid], 1] = True
    gold = labels.amax(dim=-1) > 0
    for side, positions in enumerate((batch.span_first, batch.span_last)):  # spans may share a boundary
        targets[:, :, side].index_put_((chunk[gold], positions[gold]), labels[gold], accumulate=True)
    return targets.clamp_(max=1.0), words.unsqueeze(-1) & allowed[:, None, None, :]


def seed_everything(seed: int, device: torch.device) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)


def train(config: TrainConfig) -> Path:
    """Train a model as ``config`` says; returns the directory of the best model (by dev F1;
    with ``config.decisions_from``, of the last epoch)."""
    from kogner.device import pick_device

    device = pick_device(config.device)
    seed_everything(config.seed, device)
    out = Path(config.output_dir)
    decisions = read_decisions(config.decisions_from) if config.decisions_from else {}
    corpora = load_corpora(config)
    tuned = [corpus for corpus in corpora if corpus.dev]  # extra datasets train only
    types = sorted({t for corpus in corpora for t in corpus.types})
    index = None
    if config.index_dir:
        from kogner.index import EntityIndex

        index = EntityIndex.load(config.index_dir)
    elif config.lambda_dist > 0:
        raise ValueError("lambda_dist > 0 needs index_dir (the teacher's entity index)")
    dictionary = KGDictionary.from_index(index) if index is not None and config.kg_dictionary else None
    model = KoGNER.from_encoder(
        config.encoder,
        types,
        dictionary,
        type_descriptions=config.type_descriptions,
        type_map=config.type_map,
        max_span_width=config.max_span_width,
        span_dim=config.span_dim,
        case_features=config.case_features,
        boundary_head=config.boundary_head,
        pos_weight=config.pos_weight,
        decoding=config.decoding,
        max_subwords=config.max_subwords,
        window_words=config.max_words,
    ).to(device)
    if index is not None:
        model.attach_index(index)
        model.config.link_strategy = "alias"  # until the dev split shows vectors link better
    if decisions:  # tuned by a train-only run: nothing is tuned here
        log.info("decisions from %s: %s", config.decisions_from, decisions)
        for name, value in decisions.items():
            setattr(model.config, name, value)
    teacher_list: list[np.ndarray] = []
    chunks = [
        c
        for corpus in corpora
        for c in build_chunks(model, corpus, index if config.lambda_dist > 0 else None, teacher_list)
    ]
    teacher = torch.tensor(np.stack(teacher_list), device=device) if teacher_list else None
    allowed = {
        corpus.name: torch.tensor([t in corpus.types for t in types], device=device, dtype=torch.bool)
        for corpus in corpora
    }
    log.info(
        "training on %d chunks (%s), %d types, %d distillation targets, KG dictionary of %d aliases",
        len(chunks),
        ", ".join(c.name for c in corpora),
        len(types),
        len(teacher_list),
        len(dictionary.masks) if dictionary else 0,
    )
    optimizer = make_optimizer(model, config)
    steps_per_epoch = math.ceil(math.ceil(len(chunks) / config.batch_size) / config.grad_accumulation)
    total_steps = max(1, steps_per_epoch * config.epochs)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    state = {"epoch": 0, "best_f1": -1.0, "bad_epochs": 0}
    state = resume(out, model, optimizer, scheduler, state)
    rng = random.Random(config.seed)
    for _ in range(state["epoch"]):  # the same batch order as an uninterrupted run
        length_batches(chunks, config.batch_size, rng)
    metrics_path = out / "metrics.jsonl"
    for epoch in range(state["epoch"], config.epochs):
        if state["bad_epochs"] >= config.patience:  # checked here so that a resumed run stays stopped
            log.info("early stop: dev F1 did not improve for %d epochs", config.patience)
            break
        started = time.perf_counter()
        losses = run_epoch(model, chunks, allowed, teacher, optimizer, scheduler, config, rng, epoch)
        train_seconds = time.perf_counter() - started
        record = {"epoch": epoch + 1, **losses, "train_seconds": round(train_seconds, 1)}
        improved = tune_on_dev(model, tuned, config.eval_batch_size, record, state["best_f1"]) if tuned else True
        append_jsonl(metrics_path, record)
        state.update(epoch=epoch + 1, bad_epochs=0 if improved else state["bad_epochs"] + 1)
        if improved:
            state["best_f1"] = record.get("dev_f1", state["best_f1"])
            model.save_pretrained(out / "model")
        save_checkpoint(out, model, optimizer, scheduler, state)
        plot_curves(metrics_path, out / "training_curves.png")
        log.info("epoch %d: %s", epoch + 1, json.dumps(record))
    if model.boundary_head is not None and tuned and not decisions:
        choose_boundary_threshold(out / "model", tuned, config.eval_batch_size)
    return out / "model"


def tune_on_dev(
    model: KoGNER, tuned: Sequence[Corpus], batch_size: int, record: dict[str, Any], best_f1: float
) -> bool:
    """Scores the dev splits of ``tuned`` into ``record``; when their F1 beats ``best_f1``, sets
    the model's decisions from them (threshold, abbreviation consistency and, with an entity
    index, link strategy and link threshold) and returns True."""
    dev, candidates = test(model, tuned, batch_size)
    record.update(dev)
    if dev["dev_f1"] <= best_f1:
        return False
    model.config.threshold = dev["threshold"]
    model.config.abbreviation_consistency = dev["abbreviation_consistency"]
    if model.index is not None:
        record["dev_link_accuracy"] = choose_link_strategy(model, tuned)
        record["dev_link_f1"] = choose_link_threshold(model, tuned, candidates)
    return True


DECISIONS = (
    "threshold",
    "abbreviation_consistency",
    "link_strategy",
    "link_min_score",
    "link_threshold",
    "boundary_threshold",
)


def read_decisions(model_dir: str | Path) -> dict[str, Any]:
    """The decision settings (``DECISIONS``) of the saved model in ``model_dir``."""
    from kogner.model.config import KoGNERConfig

    if not (Path(model_dir) / "config.json").is_file():
        raise KognerError(f"{model_dir}: decisions_from names no saved model (no config.json)")
    tuned = KoGNERConfig.from_pretrained(model_dir)
    return {name: getattr(tuned, name) for name in DECISIONS}


def make_optimizer(model: KoGNER, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with the encoder's and the heads' learning rates (the case embedding, an input
    of the encoder, takes the encoder's); the word embeddings are frozen (left out, no
    gradient) when ``config.freeze_word_embeddings``."""
    if config.freeze_word_embeddings:  # the largest tensor; fine-tuning it tied, at +25% time (bench/RESULTS.md)
        model.encoder.get_input_embeddings().weight.requires_grad_(False)
    encoder_side = ("encoder.", "case_embedding.")
    encoder_params = [p for n, p in model.named_parameters() if n.startswith(encoder_side) and p.requires_grad]
    head_params = [p for n, p in model.named_parameters() if not n.startswith(encoder_side)]
    return torch.optim.AdamW(
        [{"params": encoder_params, "lr": config.encoder_lr}, {"params": head_params, "lr": config.head_lr}],
        weight_decay=config.weight_decay,
        foreach=True,
    )


def run_epoch(
    model: KoGNER,
    chunks: Sequence[Chunk],
    allowed: dict[str, torch.Tensor],
    teacher: torch.Tensor | None,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    config: TrainConfig,
    rng: random.Random,
    epoch: int,
) -> dict[str, float]:
    """One pass over the training chunks; returns the mean losses."""
    model.train()
    totals: dict[str, float] = {}
    batches = length_batches(chunks, config.batch_size, rng)
    progress = tqdm(batches, desc=f"epoch {epoch + 1}", unit="batch")
    optimizer.zero_grad()
    for step, positions in enumerate(progress, start=1):
        batch_chunks = [chunks[i] for i in positions]
        batch = model.collate(batch_chunks)
        batch_allowed = torch.stack([allowed[c.group] for c in batch_chunks])
        terms = training_step(model, batch_chunks, batch, batch_allowed, teacher, config)
        if step % config.grad_accumulation == 0 or step == len(batches):
            for group in clipping_groups(model):  # the boundary head apart: its gradients leave the rest unscaled
                torch.nn.utils.clip_grad_norm_(group, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        for key, value in terms.items():
            totals[key] = totals.get(key, 0.0) + value
        progress.set_postfix(loss=f"{totals['loss'] / step:.4f}")
    return {key: round(value / max(1, len(batches)), 6) for key, value in totals.items()}


def training_step(
    model: KoGNER,
    chunks: Sequence[Chunk],
    batch: SpanBatch,
    allowed: torch.Tensor,
    teacher: torch.Tensor | None,
    config: TrainConfig,
) -> dict[str, float]:
    """Backpropagates one batch's loss (its share of an accumulated step); returns its terms.

    With ``config.adversarial_epsilon`` > 0 (FGM; Miyato et al., ICLR 2017) it also
    backpropagates the loss at the input embeddings moved by ε·g/‖g‖, g their gradient: of
    all moves of length ε, the one that raises the loss most to first order. Training on both
    makes the model robust to small changes of its inputs; it costs a second forward and
    backward pass (bench/RESULTS.md, NER)."""
    scale = 1 / config.grad_accumulation
    if config.adversarial_epsilon <= 0:
        loss, terms = batch_loss(model, chunks, batch, allowed, teacher, config.lambda_dist)
        (loss * scale).backward()
        return terms
    embedded = model.embed(batch)
    if not embedded.requires_grad:  # frozen word embeddings and no case embedding
        embedded.requires_grad_()
    embedded.retain_grad()
    loss, terms = batch_loss(model, chunks, batch, allowed, teacher, config.lambda_dist, embedded)
    (loss * scale).backward()
    gradient = embedded.grad
    shift = config.adversarial_epsilon * gradient / (gradient.norm() + 1e-12)
    adversarial, _ = batch_loss(model, chunks, batch, allowed, teacher, config.lambda_dist, model.embed(batch) + shift)
    (adversarial * scale).backward()
    return {**terms, "loss_adversarial": float(adversarial.detach())}


def clipping_groups(model: KoGNER) -> list[list[torch.nn.Parameter]]:
    """The parameters whose gradients are clipped together: the NER model's, and the boundary head's."""
    groups: dict[bool, list[torch.nn.Parameter]] = {False: [], True: []}
    for name, parameter in model.named_parameters():
        groups[name.startswith("boundary_head.")].append(parameter)
    return [group for group in groups.values() if group]


def choose_boundary_threshold(model_dir: Path, corpora: Sequence[Corpus], batch_size: int) -> dict[str, float]:
    """Set the saved model's ``boundary_threshold``: the highest of ``BOUNDARY_THRESHOLDS`` (tried
    in order, up to the first that fails) at which the mean dev F1, at the model's decisions,
    stays within ``BOUNDARY_TOLERANCE`` of scoring every span. Returns the F1 per threshold."""
    model = KoGNER.from_pretrained(model_dir, load_index=False)

    def dev_f1(threshold: float) -> float:
        model.config.boundary_threshold = threshold
        scores = [evaluate_model(model, c.dev, c.types, batch_size=batch_size)["ner"]["f1"] for c in corpora]
        return sum(scores) / len(scores)

    f1 = {"0.0": dev_f1(0.0)}
    chosen = 0.0
    for threshold in BOUNDARY_THRESHOLDS:
        f1[str(threshold)] = dev_f1(threshold)
        if f1[str(threshold)] < f1["0.0"] - BOUNDARY_TOLERANCE:
            break
        chosen = threshold
    model.config.boundary_threshold = chosen
    model.save_pretrained(model_dir)
    log.info("boundary threshold %s (dev F1 per threshold: %s)", chosen, json.dumps(f1))
    return f1


def choose_link_strategy(model: KoGNER, corpora: Sequence[Corpus]) -> dict[str, float]:
    """Set the model's link strategy to whichever links more dev gold mentions to their gold
    entity: "vector" (nearest teacher vector of P_s(span), needs distillation) or "alias" (the
    alias lookup; kept on ties and when no dev mention has an id the index knows, e.g. corpora
    without ids). Returns the accuracy of each strategy tried."""
    index = model.index
    texts, mentions, gold = [], [], []
    for corpus in corpora:
        for doc in corpus.dev:
            found, entities = [], []
            for mention in doc.mentions:
                known = {index.canonical_id(curie) for curie in gold_curies(mention, corpus.id_prefixes)} - {None}
                if known:
                    found.append(PredictedMention(mention.start, mention.end, mention.text, mention.type, 1.0))
                    entities.append(known)
            if found:
                texts.append(doc.text)
                mentions.append(found)
                gold.append(entities)
    strategies = ["alias", "vector"] if model.student_projection is not None and texts else []
    accuracy = {}
    for strategy in strategies:
        model.config.link_strategy = strategy
        linked = model.link_mentions(texts, mentions)
        hits = [
            m.entity_id in ids
            for found, known in zip(linked, gold, strict=True)
            for m, ids in zip(found, known, strict=True)
        ]
        accuracy[strategy] = round(sum(hits) / len(hits), 6)
    model.config.link_strategy = "vector" if accuracy.get("vector", 0.0) > accuracy.get("alias", 0.0) else "alias"
    return accuracy


def choose_link_threshold(
    model: KoGNER, corpora: Sequence[Corpus], candidates: dict[str, list[list[PredictedMention]]]
) -> dict[str, float]:
    """Set the model's ``link_threshold``: the lowest of ``LINK_THRESHOLDS`` that maximizes the
    mean dev NER+linking F1 of the corpora with ids the index knows, over the mentions the model reports among
    the dev ``candidates`` (per corpus, as ``test`` gives them) at its decision settings. A link
    scoring lower is not reported and its mention stays unlinked, as in scispaCy's linker (0.7
    there): weak links are mostly wrong ones, often on spans that are no gold mention at all.
    Returns the F1 per threshold ({} and threshold 0 when no dev corpus has such ids)."""
    from kogner.evaluation import score_documents

    model.config.link_threshold = 0.0
    judged = []
    for corpus in corpora:
        gold = canonical_gold_ids(model.index, corpus.dev, corpus.id_prefixes)
        if any(model.index.canonical_id(i) for doc in gold for m in doc.mentions for i in m.ids):
            config = model.config
            reported = decide(corpus, candidates[corpus.name], config.threshold, config.abbreviation_consistency)
            judged.append((gold, model.link_mentions([doc.text for doc in corpus.dev], reported)))
    f1: dict[str, float] = {}
    for threshold in LINK_THRESHOLDS if judged else []:
        scores = [
            score_documents(gold, to_documents(gold, unlink_below(linked, threshold)))["linking"]["f1"]
            for gold, linked in judged
        ]
        f1[str(threshold)] = round(sum(scores) / len(scores), 6)
    if f1:
        model.config.link_threshold = float(max(f1, key=lambda t: (f1[t], -float(t))))
    return f1


def test(
    model: KoGNER, corpora: Sequence[Corpus], batch_size: int = 32
) -> tuple[dict[str, Any], dict[str, list[list[PredictedMention]]]]:
    """Dev F1 per corpus at the decision settings that maximize their mean (``tune_decisions``),
    and each corpus's dev mentions at the lowest threshold (to decide and link later)."""
    candidates = {}
    for corpus in corpora:
        texts = [doc.text for doc in corpus.dev]
        candidates[corpus.name] = model.predict(
            texts,
            corpus.types,
            threshold=THRESHOLDS[0],
            batch_size=batch_size,
            link=False,
            abbreviation_consistency=False,
        )
    return tune_decisions(corpora, candidates), candidates


def tune_decisions(corpora: Sequence[Corpus], candidates: dict[str, list[list[PredictedMention]]]) -> dict[str, Any]:
    """The threshold and abbreviation consistency (off unless it raises F1) that maximize the
    mean dev F1 of ``candidates`` (per corpus name, each dev document's decoded mentions at the
    lowest threshold), with that F1 per corpus."""
    from kogner.evaluation import score_documents

    best: dict[str, Any] = {"dev_f1": -1.0}
    for consistency, threshold in itertools.product((False, True), THRESHOLDS):
        f1 = {}
        for corpus in corpora:
            predicted = decide(corpus, candidates[corpus.name], threshold, consistency)
            f1[corpus.name] = score_documents(corpus.dev, to_documents(corpus.dev, predicted))["ner"]["f1"]
        mean = sum(f1.values()) / len(f1)
        if mean > best["dev_f1"]:
            best = {"dev_f1": round(mean, 6), "threshold": threshold, "abbreviation_consistency": consistency}
            best["dev_f1_per_corpus"] = f1
    return best


def decide(
    corpus: Corpus, candidates: Sequence[Sequence[PredictedMention]], threshold: float, consistency: bool
) -> list[list[PredictedMention]]:
    """The dev ``candidates`` of ``corpus`` that a model with these decision settings reports."""
    predicted = [[m for m in found if m.score >= threshold] for found in candidates]
    if consistency:
        predicted = [harmonize_abbreviations(d.text, found) for d, found in zip(corpus.dev, predicted, strict=True)]
    return predicted


def to_documents(gold: Sequence[Document], predicted: Sequence[Sequence[Any]]) -> list[Document]:
    """Documents with the passages of ``gold`` and the ``predicted`` mentions."""
    return [
        Document(doc.id, doc.passages, [m.to_mention() for m in found])
        for doc, found in zip(gold, predicted, strict=True)
    ]


def evaluate_model(
    model: KoGNER | str | Path,
    documents: Sequence[Document],
    types: Sequence[str] | None = None,
    id_prefixes: dict[str, str] | None = None,
    type_map: dict[str, str] | None = None,
    batch_size: int = 32,
) -> dict[str, Any]:
    """Strict NER scores (and NER+linking when the documents have ids and the model an
    index) of ``model`` on ``documents``, through ``kogner.evaluation.score_documents``."""
    from kogner.evaluation import score_documents

    if not isinstance(model, KoGNER):
        model = KoGNER.from_pretrained(model, inference_only=True)
    gold = map_types(documents, type_map or {})
    types = list(types or sorted({m.type for doc in gold for m in doc.mentions} & set(model.types)) or model.types)
    has_ids = any(m.ids for doc in gold for m in doc.mentions)
    link = has_ids and model.index is not None
    started = time.perf_counter()
    predicted = model.predict([doc.text for doc in gold], types, batch_size=batch_size, link=link)
    seconds = time.perf_counter() - started
    if link:
        gold = canonical_gold_ids(model.index, gold, id_prefixes or {})
    scores = score_documents(gold, to_documents(gold, predicted), id_prefixes if not link else None)
    if not link:
        scores.pop("linking", None)
    scores["types"] = types
    scores["documents"] = len(gold)
    scores["predict_seconds"] = round(seconds, 2)
    return scores


def canonical_gold_ids(index: Any, documents: Sequence[Document], prefixes: dict[str, str]) -> list[Document]:
    """Gold ids as the KG's canonical ids (so a MeSH gold id matches the KG entity it is an xref of)."""
    from kogner.datasets import to_curie

    out = []
    for doc in documents:
        mentions = []
        for m in doc.mentions:
            curies = [to_curie(i, prefixes[m.type]) if prefixes.get(m.type) else i for i in m.ids if i != "-1"]
            ids = [index.canonical_id(i) or i for i in curies]
            mentions.append(Mention(m.start, m.end, m.text, m.type, ids, m.id, dict(m.attributes)))
        out.append(Document(doc.id, doc.passages, mentions, doc.relations, doc.metadata))
    return out


# ---- checkpoints, metrics, curves ------------------------------------------------------------
def save_checkpoint(out: Path, model: KoGNER, optimizer: Any, scheduler: Any, state: dict[str, Any]) -> None:
    """out/checkpoint: the model, optimizer, scheduler, RNG states and loop state (replaced atomically)."""
    with atomic_dir(out / "checkpoint") as tmp:
        model.save_pretrained(tmp / "model")
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "state": state,
                "torch_rng": torch.get_rng_state(),
            },
            tmp / "training_state.pt",
        )


def resume(out: Path, model: KoGNER, optimizer: Any, scheduler: Any, state: dict[str, Any]) -> dict[str, Any]:
    """Restore out/checkpoint if there is one; returns the loop state to continue from."""
    checkpoint = out / "checkpoint"
    if not (checkpoint / "training_state.pt").is_file():
        if (out / "metrics.jsonl").exists():
            (out / "metrics.jsonl").unlink()
        return state
    from safetensors.torch import load_file

    model.load_state_dict(load_file(checkpoint / "model" / "model.safetensors"))
    saved = torch.load(checkpoint / "training_state.pt", weights_only=False)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    torch.set_rng_state(saved["torch_rng"])
    log.info("resuming after epoch %d (best dev F1 %.4f)", saved["state"]["epoch"], saved["state"]["best_f1"])
    return saved["state"]


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(record) + "\n")


def plot_curves(metrics_path: Path, png_path: Path) -> None:
    """Training losses and dev F1 per epoch, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    epochs = [r["epoch"] for r in records]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key in ("loss", "loss_lang", "loss_dist", "loss_boundary"):
        if key in records[0]:
            left.plot(epochs, [r[key] for r in records], marker="o", label=key)
    left.set(xlabel="epoch", ylabel="training loss")
    left.legend()
    dev = [(r["epoch"], r["dev_f1"]) for r in records if "dev_f1" in r]  # none when trained on dev too
    right.plot([e for e, _ in dev], [f1 for _, f1 in dev], marker="o", color="C3")
    right.set(xlabel="epoch", ylabel="dev F1 (tuned threshold)")
    figure.tight_layout()
    with atomic_path(png_path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)

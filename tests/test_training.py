"""Training: config parsing, chunk labels, distillation targets, and a few optimizer steps on real sentences."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from kogner.abbreviations import find_abbreviations
from kogner.corpora import write_corpus
from kogner.datasets import load_dataset
from kogner.documents import Mention
from kogner.errors import InputFormatError, KognerError
from kogner.evaluation import score_documents
from kogner.index import EntityIndex
from kogner.model import KoGNER, PredictedMention
from kogner.model.modeling import boundary_loss
from kogner.model.spans import LOWER, NO_CASE, TITLE
from kogner.text import word_spans
from kogner.training import (
    BOUNDARY_THRESHOLDS,
    BOUNDARY_TOLERANCE,
    LINK_THRESHOLDS,
    Corpus,
    TrainConfig,
    batch_loss,
    boundary_targets,
    build_chunks,
    choose_boundary_threshold,
    choose_link_strategy,
    choose_link_threshold,
    load_corpora,
    make_optimizer,
    map_types,
    to_documents,
    train,
    training_step,
    tune_decisions,
)

NCBI_TYPES = dict.fromkeys(["SpecificDisease", "DiseaseClass", "Modifier", "CompositeMention"], "Disease")


def quick_ncbi_run(data_dir: Path, **settings: Any) -> dict[str, Any]:
    """TrainConfig settings (all but output_dir) of a small NCBI-disease run, ``settings`` on top."""
    base = {"datasets": ["ncbi-disease"], "type_map": NCBI_TYPES, "data_dir": str(data_dir)}
    return {**base, "max_subwords": 64, "max_span_width": 6, **settings}


def test_train_config_from_toml_rejects_unknown_keys(tmp_path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('output_dir = "out"\ndatasets = ["ncbi-disease"]\nlambda_dist = 0.5\n')
    config = TrainConfig.from_toml(good)
    assert config.datasets == ["ncbi-disease"] and config.lambda_dist == 0.5
    bad = tmp_path / "bad.toml"
    bad.write_text('output_dir = "out"\nlearning_rate = 1\n')
    with pytest.raises(InputFormatError, match="learning_rate"):
        TrainConfig.from_toml(bad)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('adversarial_epsilon = "1.0"', "adversarial_epsilon must be a finite number, got '1.0'"),
        ("adversarial_epsilon = nan", "adversarial_epsilon must be a finite number"),
        ("epochs = 2.5", "epochs must be an integer, got 2.5"),
        ("lambda_dist = true", "lambda_dist must be a finite number, got True"),
        ("adversarial_epsilon = -1.0", "adversarial_epsilon must be ≥ 0, got -1.0"),
        ("batch_size = 0", "batch_size must be at least 1, got 0"),
        ("max_grad_norm = 0", "max_grad_norm must be > 0, got 0"),
        ("warmup_ratio = 1.5", "warmup_ratio must be between 0 and 1, got 1.5"),
    ],
)
def test_train_config_from_toml_names_the_key_of_a_bad_number(tmp_path, line, message) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'output_dir = "out"\n{line}\n')
    with pytest.raises(InputFormatError, match=message) as raised:
        TrainConfig.from_toml(path)
    assert str(path) in str(raised.value)


def test_training_reads_bc5cdr_sentences_in_their_abstracts_when_asked(data_dir) -> None:
    config = TrainConfig(output_dir="unused", datasets=["bc5cdr-chem"], data_dir=str(data_dir), max_train_docs=3)
    (by_sentence,) = load_corpora(config)
    config.whole_documents = True
    (by_abstract,) = load_corpora(config)
    assert len(by_abstract.train) == 3 and len(by_abstract.dev) == 500
    assert all(len(d.passages) > 3 and d.id.isdigit() for d in by_abstract.train)  # PMIDs of BC5CDR abstracts
    assert all(len(d.passages) == 1 for d in by_sentence.train) and len(by_sentence.dev) == 4581


@pytest.mark.parametrize("epsilon", [0.0, 1.0])
def test_a_few_steps_reduce_the_loss_on_real_sentences(data_dir, epsilon) -> None:
    torch.manual_seed(0)
    docs = map_types(load_dataset("ncbi-disease", "train", data_dir)[:2], NCBI_TYPES)
    model = KoGNER.from_encoder(None, ["Disease"], max_span_width=8, max_subwords=64, window_words=24)
    chunks = build_chunks(model, Corpus("ncbi", docs, [], ["Disease"]))
    labelled = [c for c in chunks if c.gold][:4]
    gold_texts = {
        model.tokenizer.decode(c.input_ids[c.word_first[i] : c.word_last[j] + 1]) for c in labelled for i, j in c.gold
    }
    assert "hemochromatosis" in gold_texts or "skin tumour" in gold_texts
    batch = model.collate(labelled)
    allowed = torch.ones(len(labelled), 1, dtype=torch.bool)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
    model.train()
    losses = []
    config = TrainConfig(output_dir="unused", adversarial_epsilon=epsilon)
    for _ in range(5):
        losses.append(training_step(model, labelled, batch, allowed, None, config)["loss"])
        optimizer.step()
        optimizer.zero_grad()
    assert losses[-1] < 0.5 * losses[0]


def test_adversarial_training_adds_the_loss_at_embeddings_moved_to_raise_it(data_dir) -> None:
    torch.manual_seed(0)
    docs = map_types(load_dataset("ncbi-disease", "train", data_dir)[:2], NCBI_TYPES)
    model = KoGNER.from_encoder(None, ["Disease"], max_span_width=8, max_subwords=64, window_words=24)
    labelled = [c for c in build_chunks(model, Corpus("ncbi", docs, [], ["Disease"])) if c.gold][:4]
    batch = model.collate(labelled)
    allowed = torch.ones(len(labelled), 1, dtype=torch.bool)
    config = TrainConfig(output_dir="unused")
    make_optimizer(model, config)  # freezes the word embeddings
    model.train()
    for module in model.modules():  # no dropout: the passes differ only by the move of the embeddings
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    clean = training_step(model, labelled, batch, allowed, None, config)
    clean_gradient = model.span_head[0].weight.grad.clone()
    losses = []
    for epsilon in (1.0, 4.0):
        model.zero_grad()
        terms = training_step(model, labelled, batch, allowed, None, replace(config, adversarial_epsilon=epsilon))
        assert terms["loss"] == pytest.approx(clean["loss"], rel=1e-5)
        losses.append(terms["loss_adversarial"])
    assert clean["loss"] < losses[0] < losses[1]  # a move along the gradient raises the loss, more when longer
    assert not torch.allclose(model.span_head[0].weight.grad, clean_gradient)  # both losses' gradients
    assert model.encoder.get_input_embeddings().weight.grad is None  # frozen: no gradient, no move of its own


def test_the_boundary_head_learns_where_gold_mentions_start_and_end(data_dir) -> None:
    """Boundary targets mark each gold span's first subword as a start and its last subword as
    an end, scored at words' first / last subwords only; L_boundary joins the loss without
    reaching the encoder; trained on real sentences, the head makes every gold span plausible
    at 0.3 while it prunes most other spans."""
    torch.manual_seed(0)
    docs = map_types(load_dataset("ncbi-disease", "train", data_dir)[:3], NCBI_TYPES)
    model = KoGNER.from_encoder(
        None, ["Disease"], max_span_width=8, max_subwords=64, window_words=24, boundary_head=True
    )
    labelled = [c for c in build_chunks(model, Corpus("ncbi", docs, [], ["Disease"])) if c.gold][:4]
    batch = model.collate(labelled)
    allowed = torch.ones(len(labelled), 1, dtype=torch.bool)
    labels = torch.zeros(*batch.span_mask.shape, 1)
    for b, chunk in enumerate(labelled):
        for span in chunk.gold:
            labels[b, batch.spans[b].index(span), 0] = 1.0
    targets, mask = boundary_targets(batch, labels, allowed)
    for b, chunk in enumerate(labelled):
        starts = {chunk.word_first[first] for first, _ in chunk.gold}
        ends = {chunk.word_last[last] for _, last in chunk.gold}
        assert set(targets[b, :, 0, 0].nonzero().flatten().tolist()) == starts
        assert set(targets[b, :, 1, 0].nonzero().flatten().tolist()) == ends
        assert set(mask[b, :, 0, 0].nonzero().flatten().tolist()) == set(chunk.word_first)
        assert set(mask[b, :, 1, 0].nonzero().flatten().tolist()) == set(chunk.word_last)
    model.eval()  # no dropout: the passes below see the same activations (gradients still flow)
    loss, terms = batch_loss(model, labelled, batch, allowed, None, 0.0)
    assert loss.item() == pytest.approx(terms["loss_lang"] + terms["loss_boundary"], rel=1e-5)
    alone = boundary_loss(model.boundary_logits(model.encode(batch)), targets, mask)
    assert alone.item() == pytest.approx(terms["loss_boundary"], rel=1e-5)
    loss.backward()
    with_boundary = [p.grad.clone() for p in model.encoder.parameters() if p.grad is not None]
    model.zero_grad()
    model.train().eval()  # entering training drops the cached type vectors (and their used-up graph)
    model.boundary_head, head = None, model.boundary_head
    loss, _ = batch_loss(model, labelled, batch, allowed, None, 0.0)
    loss.backward()
    without = [p.grad.clone() for p in model.encoder.parameters() if p.grad is not None]
    model.boundary_head = head
    assert all(torch.equal(a, b) for a, b in zip(with_boundary, without, strict=True))  # detached
    with torch.no_grad():
        hidden = model.encode(batch)
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        step = boundary_loss(model.boundary_logits(hidden), targets, mask)
        step.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(step.item())
    assert losses[-1] < 0.3 * losses[0]
    model.config.boundary_threshold = 0.3
    with torch.no_grad():
        plausible = model.plausible_spans(batch, hidden, [0])
    gold = labels[..., 0] > 0
    assert bool(plausible[gold].all()) and plausible.sum() < 0.2 * batch.span_mask.sum()


def test_a_boundary_head_leaves_the_trained_ner_model_bit_for_bit_unchanged(tmp_path, data_dir) -> None:
    """The same seeded run with and without a boundary head trains the same NER weights: the
    head draws its init from a forked random state, learns from detached encoder output and
    has its gradients clipped apart (joint clipping would rescale the NER model's steps)."""
    weights = {}
    for boundary_head in (False, True):
        settings = quick_ncbi_run(data_dir, max_train_docs=4, max_dev_docs=1, epochs=1, max_words=32)
        model_dir = train(
            TrainConfig(output_dir=str(tmp_path / str(boundary_head)), boundary_head=boundary_head, **settings)
        )
        weights[boundary_head] = load_file(model_dir / "model.safetensors")
    head = {name for name in weights[True] if name.startswith("boundary_head.")}
    assert head and set(weights[True]) - head == set(weights[False])
    assert all(torch.equal(weights[True][name], tensor) for name, tensor in weights[False].items())


def test_the_boundary_threshold_is_the_highest_that_keeps_dev_f1(tmp_path, data_dir) -> None:
    """Training ends by choosing the filter's threshold on dev: the saved one keeps dev F1 within
    the tolerance of scoring every span, and the next one tried (if any) does not."""
    config = TrainConfig(
        output_dir=str(tmp_path), **quick_ncbi_run(data_dir, max_train_docs=40, max_dev_docs=10, epochs=2, max_words=48)
    )
    model_dir = train(config)
    (corpus,) = load_corpora(config)
    f1 = choose_boundary_threshold(model_dir, [corpus], batch_size=32)
    chosen = json.loads((model_dir / "config.json").read_text())["boundary_threshold"]
    assert f1["0.0"] > 0.3  # a model that finds diseases, so the rule is tested on real predictions
    assert chosen in [0.0, *BOUNDARY_THRESHOLDS] and f1[str(chosen)] >= f1["0.0"] - BOUNDARY_TOLERANCE
    tried = [t for t in BOUNDARY_THRESHOLDS if str(t) in f1]
    assert tried == BOUNDARY_THRESHOLDS[: len(tried)]
    if tried[-1] != chosen:
        assert f1[str(tried[-1])] < f1["0.0"] - BOUNDARY_TOLERANCE


@pytest.mark.parametrize("freeze", [True, False])
def test_frozen_word_embeddings_stay_fixed_while_the_rest_of_the_encoder_trains(data_dir, freeze) -> None:
    torch.manual_seed(0)
    docs = map_types(load_dataset("ncbi-disease", "train", data_dir)[:1], NCBI_TYPES)
    model = KoGNER.from_encoder(None, ["Disease"], max_span_width=8, max_subwords=64, window_words=24)
    labelled = [c for c in build_chunks(model, Corpus("ncbi", docs, [], ["Disease"])) if c.gold][:2]
    batch = model.collate(labelled)
    optimizer = make_optimizer(model, TrainConfig(output_dir="unused", freeze_word_embeddings=freeze))
    embeddings = model.encoder.get_input_embeddings().weight
    first_layer = next(p for n, p in model.encoder.named_parameters() if "layer.0." in n and p.dim() == 2)
    before = embeddings.detach().clone(), first_layer.detach().clone()
    model.train()
    loss, _ = batch_loss(model, labelled, batch, torch.ones(len(labelled), 1, dtype=torch.bool), None, 0.0)
    loss.backward()
    optimizer.step()
    used_rows = batch.input_ids.unique()
    assert torch.equal(embeddings[used_rows], before[0][used_rows]) is freeze
    assert not torch.equal(first_layer, before[1])


def test_the_case_embedding_learns_at_the_encoders_rate_and_no_case_stays_zero(data_dir) -> None:
    torch.manual_seed(0)
    docs = map_types(load_dataset("ncbi-disease", "train", data_dir)[:2], NCBI_TYPES)
    model = KoGNER.from_encoder(None, ["Disease"], max_span_width=8, max_subwords=64, case_features=True)
    labelled = [c for c in build_chunks(model, Corpus("ncbi", docs, [], ["Disease"])) if c.gold][:4]
    batch = model.collate(labelled)
    assert {int(c) for c in batch.case_ids.unique()} >= {NO_CASE, LOWER, TITLE}
    config = TrainConfig(output_dir="unused", encoder_lr=1e-4, head_lr=1e-3)
    optimizer = make_optimizer(model, config)
    (group,) = [g for g in optimizer.param_groups if any(p is model.case_embedding.weight for p in g["params"])]
    assert group["lr"] == config.encoder_lr
    model.train()
    loss, _ = batch_loss(model, labelled, batch, torch.ones(len(labelled), 1, dtype=torch.bool), None, 0.0)
    loss.backward()
    optimizer.step()
    weight = model.case_embedding.weight
    assert weight[NO_CASE].abs().max() == 0  # special tokens and padding: the encoder's inputs, unchanged
    assert weight[LOWER].abs().max() > 0 and weight[TITLE].abs().max() > 0


def test_distillation_pulls_gold_spans_toward_their_entities_teacher_vectors(data_dir, mesh_index_dir) -> None:
    """Gold MeSH ids give teacher targets (abbreviations without ids go through the alias
    lookup); a few steps with a large λ bring P_s(span) closer to them."""
    torch.manual_seed(0)
    index = EntityIndex.load(mesh_index_dir)
    # BC5CDR test PMID 12535818: atrial fibrillation (D001281) and myocardial infarction (D009203)
    [doc] = [d for d in load_dataset("bc5cdr", "test", data_dir) if d.id == "12535818"]
    model = KoGNER.from_encoder(None, ["Chemical", "Disease"], max_span_width=8, max_subwords=96, window_words=32)
    model.attach_index(index)
    corpus = Corpus("bc5cdr", [doc], [], ["Chemical", "Disease"], {"Chemical": "MESH", "Disease": "MESH"})
    rows: list = []
    chunks = build_chunks(model, corpus, index, rows)
    targeted = {
        doc.text[c.words[i][0] : c.words[j][1]].lower(): rows[row] for c in chunks for (i, j), row in c.targets.items()
    }
    expected, _ = index.teacher_vectors(["MESH:D001281"])
    assert torch.allclose(torch.as_tensor(targeted["atrial fibrillation"]), torch.as_tensor(expected[0]))
    labelled = [c for c in chunks if c.targets][:6]
    batch = model.collate(labelled)
    allowed = torch.ones(len(labelled), 2, dtype=torch.bool)
    teacher = torch.as_tensor(np.stack(rows))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    distances = []
    for _ in range(10):
        loss, terms = batch_loss(model, labelled, batch, allowed, teacher, 10.0)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        distances.append(terms["loss_dist"])
    assert min(distances[-3:]) < 0.6 * distances[0]  # dropout makes single steps noisy


def test_link_strategy_is_chosen_on_dev_gold_mentions(data_dir, mesh_index_dir) -> None:
    """An untrained projection links worse than the alias lookup, so "alias" is kept; a corpus
    without ids in the index gives no evidence and keeps "alias" too."""
    index = EntityIndex.load(mesh_index_dir)
    [doc] = [d for d in load_dataset("bc5cdr", "test", data_dir) if d.id == "12535818"]
    model = KoGNER.from_encoder(None, ["Chemical", "Disease"], max_subwords=96, window_words=32)
    model.attach_index(index)
    corpus = Corpus("bc5cdr", [], [doc], ["Chemical", "Disease"], {"Chemical": "MESH", "Disease": "MESH"})
    accuracy = choose_link_strategy(model, [corpus])
    assert set(accuracy) == {"alias", "vector"} and accuracy["alias"] > accuracy["vector"]
    assert model.config.link_strategy == "alias"
    assert choose_link_strategy(model, [Corpus("no-ids", [], [doc], ["Disease"])]) == {}


def test_link_threshold_is_chosen_on_dev_ner_plus_linking_f1(data_dir, mesh_index_dir) -> None:
    """Gold mentions plus spans that are no mention at all: the spurious spans get only weak
    embedding links, so a threshold above them raises dev NER+linking F1 and is kept."""
    index = EntityIndex.load(mesh_index_dir)
    [doc] = [d for d in load_dataset("bc5cdr", "test", data_dir) if d.id == "12535818"]
    model = KoGNER.from_encoder(None, ["Chemical", "Disease"], max_subwords=96, window_words=32)
    model.attach_index(index)
    gold = [PredictedMention(m.start, m.end, m.text, m.type, 0.9) for m in doc.mentions]
    taken = {i for m in doc.mentions for i in range(m.start, m.end)}
    spurious = [
        PredictedMention(s, e, doc.text[s:e], "Disease", 0.9)
        for s, e in word_spans(doc.text)
        if e - s >= 6 and doc.text[s:e].isalpha() and not taken & set(range(s, e))
    ][:15]
    corpus = Corpus("bc5cdr", [], [doc], ["Chemical", "Disease"], {"Chemical": "MESH", "Disease": "MESH"})
    f1 = choose_link_threshold(model, [corpus], {"bc5cdr": [gold + spurious]})
    assert set(f1) == {str(t) for t in LINK_THRESHOLDS}
    chosen = model.config.link_threshold
    assert chosen > 0 and f1[str(chosen)] == max(f1.values()) > f1["0.0"]
    assert all(f1[str(t)] < f1[str(chosen)] for t in LINK_THRESHOLDS if t < chosen)  # the lowest of the best
    [linked] = model.link_mentions([doc.text], [gold + spurious])  # now at the chosen threshold
    spurious_links = sum(m.entity_id is not None for m in linked[len(gold) :])
    assert len(spurious) == 15 and spurious_links < 15  # every one of them linked at threshold 0
    assert any(m.link_score == 1.0 for m in linked[: len(gold)])  # exact alias links stay
    assert choose_link_threshold(model, [Corpus("no-ids", [], [doc], ["Disease"])], {"no-ids": [gold]}) == {}
    assert model.config.link_threshold == 0.0


def test_dev_tuning_picks_the_threshold_and_abbreviation_consistency_that_raise_f1(data_dir) -> None:
    dev = map_types(load_dataset("ncbi-disease", "dev", data_dir), NCBI_TYPES)
    corpus = Corpus("ncbi-disease", [], dev, ["Disease"])
    gold = [[PredictedMention(m.start, m.end, m.text, m.type, 0.9) for m in doc.mentions] for doc in dev]
    noise = [[PredictedMention(0, 1, doc.text[:1], "Disease", 0.1)] for doc in dev]  # wrong, low score
    exact = tune_decisions([corpus], {corpus.name: [g + n for g, n in zip(gold, noise, strict=True)]})
    assert exact["dev_f1"] == 1.0 and exact["threshold"] > 0.1 and exact["abbreviation_consistency"] is False
    # a model that found the long forms but missed every bare short form: harmonizing wins them back
    shorts = [{a.short for a in find_abbreviations(doc.text)} for doc in dev]
    missed = [[m for m in found if m.text not in s] for found, s in zip(gold, shorts, strict=True)]
    assert sum(map(len, missed)) < sum(map(len, gold)) - 20
    plain_f1 = score_documents(dev, to_documents(dev, missed))["ner"]["f1"]
    tuned = tune_decisions([corpus], {corpus.name: missed})
    assert tuned["abbreviation_consistency"] is True and tuned["dev_f1"] > plain_f1 + 0.02


def test_an_extra_dataset_adds_only_unseen_documents_and_the_trained_types(data_dir) -> None:
    config = TrainConfig(
        output_dir="unused",
        datasets=["bc5cdr-chem"],
        extra_datasets=["biored"],
        type_map={"ChemicalEntity": "Chemical"},
        data_dir=str(data_dir),
    )
    main, extra = load_corpora(config)
    bc5cdr = {doc.id for split in ("train", "dev", "test") for doc in load_dataset("bc5cdr", split, data_dir)}
    biored = {doc.id for split in ("train", "dev") for doc in load_dataset("biored", split, data_dir)}
    assert main.name == "bc5cdr-chem" and len(main.dev) == 4581
    assert extra.name == "biored" and extra.dev == [] and extra.types == ["Chemical"]
    assert {doc.id for doc in extra.train} == biored - bc5cdr and 0 < len(biored & bc5cdr) < len(extra.train)
    assert {m.type for doc in extra.train for m in doc.mentions} == {"Chemical"}
    assert any(m.text == "cisplatin" for doc in extra.train for m in doc.mentions)
    config.type_map = {}  # BioRED's types are none of BC5CDR-chem's until mapped
    with pytest.raises(ValueError, match="none of the trained types"):
        load_corpora(config)


def test_an_extra_document_file_adds_silver_data_without_any_bc5cdr_document(tmp_path, data_dir) -> None:
    """Abstracts another model labelled, as a PubTator file: trained on, minus BC5CDR's own."""
    ncbi = load_dataset("ncbi-disease", "test", data_dir)[:3]
    test_abstract = load_dataset("bc5cdr", "test", data_dir)[0]
    silver = [replace(doc, mentions=[replace(m, type="Chemical") for m in doc.mentions]) for doc in ncbi]
    silver[0].mentions.append(Mention(0, 1, silver[0].text[:1], "Gene"))  # a type the model does not learn
    write_corpus([*silver, test_abstract], tmp_path / "silver.txt", "pubtator")
    config = TrainConfig(
        output_dir="unused",
        datasets=["bc5cdr-chem"],
        extra_datasets=[str(tmp_path / "silver.txt")],
        data_dir=str(data_dir),
    )
    main, extra = load_corpora(config)
    assert extra.name == str(tmp_path / "silver.txt") and extra.dev == [] and extra.types == ["Chemical"]
    assert [doc.id for doc in extra.train] == [doc.id for doc in ncbi]  # the BC5CDR test abstract is left out
    assert [len(doc.mentions) for doc in extra.train] == [len(doc.mentions) for doc in ncbi]
    config.extra_datasets = [str(tmp_path / "missing.txt")]
    with pytest.raises(ValueError, match="neither a registry dataset.*nor a file"):
        load_corpora(config)


def test_training_on_dev_keeps_the_decisions_of_the_train_only_run(tmp_path, data_dir) -> None:
    common = quick_ncbi_run(data_dir, max_train_docs=1, max_dev_docs=1, epochs=1, batch_size=8, max_words=24)
    tuned_dir = train(TrainConfig(output_dir=str(tmp_path / "tuned"), **common))
    tuned = json.loads((tuned_dir / "config.json").read_text())
    tuned.update(threshold=0.35, abbreviation_consistency=not tuned["abbreviation_consistency"])
    (tuned_dir / "config.json").write_text(json.dumps(tuned))  # decisions no tuning here would pick
    final = TrainConfig(output_dir=str(tmp_path / "final"), decisions_from=str(tuned_dir), **common)
    (corpus,) = load_corpora(final)
    dev_id = load_dataset("ncbi-disease", "dev", data_dir)[0].id
    assert len(corpus.train) == 2 and corpus.train[1].id == dev_id and corpus.dev == []
    final_dir = train(final)
    saved = json.loads((final_dir / "config.json").read_text())
    assert saved["threshold"] == 0.35 and saved["abbreviation_consistency"] == tuned["abbreviation_consistency"]
    assert saved["boundary_head"] and saved["boundary_threshold"] == tuned["boundary_threshold"]
    (record,) = [json.loads(line) for line in (tmp_path / "final" / "metrics.jsonl").read_text().splitlines()]
    assert "dev_f1" not in record and record["loss"] > 0
    with pytest.raises(KognerError, match="no saved model"):
        train(TrainConfig(output_dir=str(tmp_path / "bad"), decisions_from=str(tmp_path), **common))

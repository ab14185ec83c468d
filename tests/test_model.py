"""The student model: losses on known cases, decoding, windowed prediction, save/load."""

from __future__ import annotations

import json
import math
import os
import random
import threading
from dataclasses import replace
from unittest.mock import patch

import pytest
import torch

from kogner.datasets import load_dataset
from kogner.device import autocast, describe_cpu, map_in_threads
from kogner.errors import InputFormatError
from kogner.index import EntityIndex
from kogner.model import KoGNER, PredictedMention, predictor, resolve_nested, resolve_overlaps
from kogner.model.modeling import distillation_loss, span_type_loss


def test_span_type_loss_weights_positives_and_ignores_masked_pairs() -> None:
    logits = torch.zeros(1, 3, 1)
    labels = torch.tensor([[[1.0], [0.0], [1.0]]])
    mask = torch.tensor([[[True], [True], [False]]])
    # one positive (weight 4) and one negative, both at p=0.5; the masked pair does not count
    assert span_type_loss(logits, labels, mask, pos_weight=4.0).item() == pytest.approx(5 * math.log(2) / 2)
    confident = torch.tensor([[[20.0], [-20.0], [-20.0]]])
    assert span_type_loss(confident, labels, mask, pos_weight=4.0).item() < 1e-6


def test_distillation_loss_is_scale_free_mse_of_directions() -> None:
    student = torch.tensor([[3.0, 0.0], [0.0, 2.0]])
    assert distillation_loss(student, student * 7).item() == pytest.approx(0.0)
    teacher = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    # first pair orthogonal: squared difference (1, 1); second identical: (0, 0) -> mean 0.5
    assert distillation_loss(student, teacher).item() == pytest.approx(0.5)
    assert distillation_loss(torch.zeros(0, 2), torch.zeros(0, 2)).item() == 0.0


def _m(start: int, end: int, score: float, type_: str = "Disease") -> PredictedMention:
    return PredictedMention(start, end, "x" * (end - start), type_, score)


def test_greedy_and_nested_decoding() -> None:
    candidates = [_m(0, 10, 0.9), _m(0, 4, 0.8), _m(5, 12, 0.7), _m(20, 25, 0.6), _m(0, 10, 0.5, "Chemical")]
    assert [(m.start, m.end) for m in resolve_overlaps(candidates)] == [(0, 10), (20, 25)]
    nested = resolve_nested(candidates)
    assert [(m.start, m.end, m.type) for m in nested] == [(0, 4, "Disease"), (0, 10, "Disease"), (20, 25, "Disease")]


def test_greedy_decoding_matches_a_scan_of_every_taken_mention() -> None:
    """The binary-search decoder against the plain definition, on random overlapping candidates."""
    generator = random.Random(7)
    for _ in range(200):
        candidates = []
        for _ in range(generator.randint(0, 30)):
            start = generator.randint(0, 60)
            candidates.append(_m(start, start + generator.randint(1, 12), generator.random()))
        expected: list[PredictedMention] = []
        for mention in sorted(candidates, key=lambda m: (-m.score, m.start, m.end)):
            if all(mention.end <= t.start or t.end <= mention.start for t in expected):
                expected.append(mention)
        assert resolve_overlaps(candidates) == sorted(expected, key=lambda m: m.start)


@pytest.fixture(scope="module")
def model() -> KoGNER:
    torch.manual_seed(0)
    return KoGNER.from_encoder(None, ["Disease", "Chemical"], window_words=40, window_overlap=8, max_subwords=64)


def test_predict_windows_long_text_with_exact_offsets(model, data_dir) -> None:
    doc = load_dataset("ncbi-disease", "test", data_dir)[0]
    texts = [doc.text * 3, "", "Famotidine-associated delirium."]
    found = model.predict(texts, threshold=0.0, link=False)
    assert found[1] == []
    for text, mentions in zip(texts, found, strict=True):
        for m in mentions:
            assert text[m.start : m.end] == m.text and m.type in ("Disease", "Chemical")
        spans = sorted((m.start, m.end) for m in mentions)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))  # greedy: no overlaps
    assert max(m.end for m in found[0]) > len(texts[0]) - 20  # the end of a long text is read too


def test_predict_on_two_cores_runs_its_batches_in_two_threads_with_the_results_of_one(model, data_dir) -> None:
    texts = [doc.text for doc in load_dataset("ncbi-disease", "test", data_dir)[:6]]
    process_threads = torch.get_num_threads()
    encode = model.encode
    seen: dict[int, set[int]] = {}  # thread -> PyTorch's thread count in it

    def spy(batch, *args):
        seen.setdefault(threading.get_ident(), set()).add(torch.get_num_threads())
        return encode(batch, *args)

    try:
        torch.set_num_threads(1)
        one = model.predict(texts, threshold=0.3, batch_size=4, link=False)
        torch.set_num_threads(2)
        with patch.object(model, "encode", spy):
            two = model.predict(texts, threshold=0.3, batch_size=4, link=False)
        assert torch.get_num_threads() == 2  # the caller's count, as it was
    finally:
        torch.set_num_threads(process_threads)
    assert len(seen) == 2 and all(counts == {1} for counts in seen.values())
    # The same batches, so the same mentions. Their scores are bit-identical on the AMX machine
    # (bf16); in fp32 on an AVX2-only CPU the same batch in another thread differs in the last bit.
    assert [[(m.start, m.end, m.type) for m in found] for found in two] == [
        [(m.start, m.end, m.type) for m in found] for found in one
    ]
    pairs = [
        (a.score, b.score)
        for found_one, found_two in zip(one, two, strict=True)
        for a, b in zip(found_one, found_two, strict=True)
    ]
    assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in pairs) and len(pairs) > 20


def test_map_in_threads_keeps_the_order_and_the_callers_thread_count_even_when_a_batch_fails() -> None:
    process_threads = torch.get_num_threads()
    cpu = torch.device("cpu")

    def fails_on_three(item: int) -> tuple[int, int]:
        if item == 3:
            raise RuntimeError("batch 3 failed")
        return item, torch.get_num_threads()

    try:
        torch.set_num_threads(2)
        assert map_in_threads(fails_on_three, [0, 1, 2], cpu) == [(0, 1), (1, 1), (2, 1)]
        with pytest.raises(RuntimeError, match="batch 3 failed"):
            map_in_threads(fails_on_three, [0, 1, 2, 3], cpu)
        later: list[int] = []  # a thread started afterwards takes the last count set in the process
        thread = threading.Thread(target=lambda: later.append(torch.get_num_threads()))
        thread.start()
        thread.join()
        assert torch.get_num_threads() == 2 and later == [2]
    finally:
        torch.set_num_threads(process_threads)


def test_save_load_round_trip_gives_identical_predictions(model, tmp_path, data_dir) -> None:
    texts = [d.text for d in load_dataset("bc5cdr", "dev", data_dir)[:2]]
    before = model.predict(texts, threshold=0.3, link=False)
    path = model.save_pretrained(tmp_path / "m")
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in path.iterdir()}
    loaded = KoGNER.from_pretrained(path)
    assert loaded.types == ["Disease", "Chemical"] and loaded.model_version.startswith("kogner-")
    assert loaded.predict(texts, threshold=0.3, link=False) == before
    with pytest.raises(FileNotFoundError):
        KoGNER.from_pretrained(tmp_path)


def test_the_cpu_description_names_the_cores_the_model_and_the_encoders_precision(monkeypatch) -> None:
    """Benchmarks record it: a throughput ratio against the encoder depends on its precision."""
    monkeypatch.setenv("KOGNER_CPU_PRECISION", "fp32")
    described = describe_cpu()
    assert described.startswith(f"{os.cpu_count()} cores, ") and described.endswith(", fp32")
    try:  # Linux names the model; elsewhere the description goes without it
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), None)
    except FileNotFoundError:
        model = None
    assert f", {model}, " in described if model else described == f"{os.cpu_count()} cores, fp32"
    monkeypatch.setenv("KOGNER_CPU_PRECISION", "bf16")
    assert describe_cpu().endswith(", bf16")


def test_an_inference_only_load_predicts_identically_and_refuses_training(
    model, tmp_path, data_dir, monkeypatch
) -> None:
    """Stored in bf16, the encoder's Linear weights are what bf16 autocast casts them to on every
    batch: the predictions are the same to the last bit, and the model can no longer be trained."""
    monkeypatch.setenv("KOGNER_CPU_PRECISION", "bf16")
    texts = [d.text for d in load_dataset("bc5cdr", "dev", data_dir)[:2]]
    path = model.save_pretrained(tmp_path / "m")
    compact = KoGNER.from_pretrained(path, inference_only=True)
    linears = [m for m in compact.encoder.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) >= 36 and all(m.weight.dtype == torch.bfloat16 for m in linears)  # 6 layers x 6
    expected = KoGNER.from_pretrained(path).predict(texts, threshold=0.3, link=False)
    assert any(expected) and compact.predict(texts, threshold=0.3, link=False) == expected
    with pytest.raises(RuntimeError, match="inference_only"):
        compact.train()
    monkeypatch.setenv("KOGNER_CPU_PRECISION", "fp32")  # nothing to store in a lower precision
    assert not KoGNER.from_pretrained(path, inference_only=True).inference_only


def test_case_features_start_as_the_plain_model_then_tell_no_from_no_and_survive_save_load(
    model, tmp_path, data_dir
) -> None:
    torch.manual_seed(0)
    cased = KoGNER.from_encoder(
        None, ["Disease", "Chemical"], window_words=40, window_overlap=8, max_subwords=64, case_features=True
    )
    missing, unexpected = cased.load_state_dict(model.state_dict(), strict=False)
    assert missing == ["case_embedding.weight"] and unexpected == []
    cased.eval()
    texts = [d.text for d in load_dataset("bc5cdr", "dev", data_dir)[:2]]
    assert cased.predict(texts, threshold=0.3, link=False) == model.predict(texts, threshold=0.3, link=False)
    with torch.no_grad():
        cased.case_embedding.weight[1:] = torch.randn(4, cased.case_embedding.embedding_dim)
    pair = ["Plasma NO fell after L-NAME.", "Plasma no fell after l-name."]
    for each, differs in ((model, False), (cased, True)):
        each.eval()  # no dropout
        with torch.no_grad():
            vectors = each.span_vectors(each.collate(predictor.text_chunks(each, pair)))
        assert (not torch.allclose(vectors[0], vectors[1])) is differs
    before = cased.predict(texts, threshold=0.3, link=False)
    loaded = KoGNER.from_pretrained(cased.save_pretrained(tmp_path / "cased"))
    assert loaded.config.case_features and torch.equal(loaded.case_embedding.weight, cased.case_embedding.weight)
    assert loaded.predict(texts, threshold=0.3, link=False) == before


def test_a_malformed_link_types_or_boundary_threshold_is_one_clear_error_naming_config_json(model, tmp_path) -> None:
    path = model.save_pretrained(tmp_path / "m")
    config = json.loads((path / "config.json").read_text())
    config["link_types"] = {"Disease": ["Disease", "Phenotype"]}
    (path / "config.json").write_text(json.dumps(config))
    assert KoGNER.from_pretrained(path).config.linkable_types("Disease") == ("Disease", "Phenotype")
    config["link_types"] = {"Disease": "Disease"}  # a string, not a list: would split into letters
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputFormatError, match=r"config\.json.*link_types\['Disease'\] must be a list"):
        KoGNER.from_pretrained(path)
    config["link_types"] = {}
    config["boundary_threshold"] = 1.5  # would prune every span: no mention, and no error
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputFormatError, match=r"config\.json.*boundary_threshold must be in \[0, 1\), got 1\.5"):
        KoGNER.from_pretrained(path)


def concatenated_span_vectors(model: KoGNER, batch) -> torch.Tensor:  # noqa: ANN001 (a SpanBatch)
    """The span MLP applied to [first; last; (mean;) width; KG type bits] per span, written out plainly."""
    with autocast(model.device):  # the model's own precision (bf16 on CPUs that have it)
        encoded = model.encoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
    hidden = encoded.last_hidden_state.float()

    def at(values: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return values.gather(1, positions.unsqueeze(-1).expand(-1, -1, values.size(-1)))

    cumulative = torch.nn.functional.pad(hidden.cumsum(dim=1), (0, 0, 1, 0))
    count = (batch.span_last - batch.span_first + 1).unsqueeze(-1)
    mean = (at(cumulative, batch.span_last + 1) - at(cumulative, batch.span_first)) / count
    pooled = [mean] if model.config.use_pooled else []
    width = model.width_embedding(batch.span_width)
    kg_bits = torch.arange(len(model.config.kg_dictionary_types))
    kg_types = (batch.span_kg_types.unsqueeze(-1) >> kg_bits & 1).float()
    features = torch.cat([at(hidden, batch.span_first), at(hidden, batch.span_last), *pooled, width, kg_types], dim=-1)
    return model.span_head(features)


@pytest.mark.parametrize(("use_pooled", "kg_dictionary"), [(True, False), (False, False), (True, True)])
def test_factorized_span_head_equals_the_mlp_on_concatenated_span_features(
    model, data_dir, request, monkeypatch, use_pooled, kg_dictionary
) -> None:
    """span_hidden applies the MLP's first layer per subword; it must equal the MLP applied to
    [first; last; (mean;) width; (KG type bits)] per span, in values and in gradients (training
    uses it), and hidden_scores must equal scores(span_vectors). In float32: under bf16 autocast
    the per-subword product is rounded to bf16, which is the point of running it there."""
    from kogner.model.dictionary import KGDictionary
    from kogner.model.predictor import text_chunks

    if not use_pooled or kg_dictionary:
        torch.manual_seed(0)
        index_dir = request.getfixturevalue("mesh_index_dir") if kg_dictionary else None
        dictionary = KGDictionary.from_index(EntityIndex.load(index_dir)) if index_dir else None
        model = KoGNER.from_encoder(
            None, ["Disease", "Chemical"], dictionary, window_words=40, max_subwords=64, use_pooled=use_pooled
        )
    # only now: the session's index fixture, built above if first needed here, stays in the default precision
    monkeypatch.setenv("KOGNER_CPU_PRECISION", "fp32")
    doc = next(d for d in load_dataset("bc5cdr", "dev", data_dir) if "arrhythmia" in d.text)  # in the MeSH slice
    batch = model.collate(text_chunks(model, [doc.text]))
    mask = batch.span_mask
    assert mask.sum() > 100
    assert bool((batch.span_kg_types[mask] != 0).any()) == kg_dictionary
    model.eval()  # no dropout; gradients still flow
    gradients = []
    for vectors_of in (concatenated_span_vectors, KoGNER.span_vectors):
        model.zero_grad()
        vectors = vectors_of(model, batch)
        vectors[mask].square().sum().backward()
        gradients.append([p.grad.clone() for p in (model.span_head[0].weight, model.width_embedding.weight)])
    with torch.no_grad():
        types = model.type_vectors(model.types)
        scores = model.hidden_scores(model.span_hidden(batch), types)
        expected = concatenated_span_vectors(model, batch)
    assert torch.allclose(vectors[mask], expected[mask], atol=1e-5)
    assert torch.allclose(scores[mask], model.scores(expected, types)[mask], atol=1e-5)
    for plain, factorized in zip(*gradients, strict=True):
        assert plain.abs().max() > 0 and torch.allclose(plain, factorized, rtol=1e-3, atol=1e-3)


def test_inference_runs_the_span_head_in_the_encoders_precision_within_its_rounding(
    model, data_dir, monkeypatch
) -> None:
    """Without gradients the span sums and the GELU run in bf16 under bf16 autocast (half the
    span head's cost); with gradients (training) in float32. On the same encoder output the
    two heads' scores differ by bf16 rounding only, and so do their span vectors."""
    from kogner.model.predictor import text_chunks

    monkeypatch.setenv("KOGNER_CPU_PRECISION", "bf16")
    doc = next(iter(load_dataset("bc5cdr", "dev", data_dir)))
    batch = model.collate(text_chunks(model, [doc.text]))
    mask = batch.span_mask
    model.eval()
    types = model.type_vectors(model.types).detach()
    with torch.no_grad():
        reduced = model.span_hidden(batch)
    with torch.enable_grad():
        full = model.span_hidden(batch).detach()
    assert (reduced.dtype, full.dtype) == (torch.bfloat16, torch.float32)
    with torch.no_grad():
        reduced_scores, full_scores = (model.hidden_scores(h, types)[mask] for h in (reduced, full))
        reduced_vectors, full_vectors = (model.span_output(h)[mask] for h in (reduced, full))
    assert reduced_scores.dtype == reduced_vectors.dtype == torch.float32
    for approximate, exact in ((reduced_scores, full_scores), (reduced_vectors, full_vectors)):
        error, scale = (approximate - exact).abs(), exact.abs().mean()
        assert error.mean() < 0.02 * scale and error.max() < 0.3 * scale  # measured: 0.6-0.7% and 9-15%
        assert error.max() > 0  # not the float32 head again


def test_the_boundary_filter_scores_only_plausible_spans_with_the_same_rows(data_dir) -> None:
    """A span is plausible when its first subword's start probability and its last subword's end
    probability reach the threshold for one of the asked types; the span head then runs on those
    spans alone, giving each the row it gets among all spans, and predict reports no other span.
    At a threshold every span passes, predictions are those of the model without the filter."""
    from kogner.model.predictor import text_chunks

    torch.manual_seed(0)
    model = KoGNER.from_encoder(
        None, ["Disease", "Chemical"], window_words=40, max_subwords=64, boundary_head=True
    ).eval()
    texts = [d.text for d in load_dataset("bc5cdr", "dev", data_dir)[:2]]
    batch = model.collate(text_chunks(model, texts))
    with torch.no_grad():
        hidden = model.encode(batch)
        probabilities = torch.sigmoid(model.boundary_logits(hidden))  # (B, T, 2, types)
        values = probabilities[..., 1].unique()  # starts and ends, sorted; a threshold halfway between two
        threshold = float(values[len(values) // 2 : len(values) // 2 + 2].mean())
        model.config.boundary_threshold = threshold
        plausible = model.plausible_spans(batch, hidden, [1])  # Chemical only
        selected = plausible.nonzero()
        assert 0 < len(selected) < 0.8 * batch.span_mask.sum()
        for b, s in batch.span_mask.nonzero().tolist():
            start = probabilities[b, batch.span_first[b, s], 0, 1] >= threshold
            end = probabilities[b, batch.span_last[b, s], 1, 1] >= threshold
            assert bool(plausible[b, s]) == bool(start and end)
        every = model.span_hidden(batch, hidden)
        assert torch.equal(model.span_hidden(batch, hidden, selected), every[selected[:, 0], selected[:, 1]])
    spans = {(b, *batch.spans[b][s]) for b, s in selected.tolist()}
    chunks = text_chunks(model, texts)
    offsets = {(chunks[b].source, chunks[b].words[f][0], chunks[b].words[la][1]) for b, f, la in spans}
    found = model.predict(texts, ["Chemical"], threshold=0.0, link=False, batch_size=len(chunks))
    assert sum(map(len, found)) > 0
    assert all((t, m.start, m.end) in offsets for t, mentions in enumerate(found) for m in mentions)
    model.config.boundary_threshold = 1e-30
    everything = model.predict(texts, threshold=0.0, link=False)
    model.config.boundary_threshold = 0.0
    assert everything == model.predict(texts, threshold=0.0, link=False)
    # Above every start and end probability no span is plausible: batches with nothing to score
    # (BC2GM's dev split has them at a high threshold) predict no mentions.
    model.config.boundary_threshold = (1 + float(probabilities.max())) / 2
    assert model.predict(texts, threshold=0.0, link=False) == [[], []]


def test_type_prompts_are_encoded_once_across_predict_calls_until_training_resumes(model, monkeypatch) -> None:
    encoded: list[str] = []
    original = model._type_prompt
    monkeypatch.setattr(model, "_type_prompt", lambda name: encoded.append(name) or original(name))
    model.train()  # drops whatever earlier tests cached
    model.eval()  # as from_pretrained returns it, and as the Beam workers hold it
    for _ in range(3):
        model.predict(["Famotidine-associated delirium."], threshold=0.0, link=False)
    assert encoded == ["Disease", "Chemical"]
    model.train()  # the weights may change now: the next prediction encodes the prompts again
    model.eval()
    model.predict(["Famotidine-associated delirium."], threshold=0.0, link=False)
    assert encoded == ["Disease", "Chemical"] * 2


def test_a_mention_without_a_span_vector_links_through_the_alias_lookup(data_dir, mesh_index_dir, monkeypatch) -> None:
    """A mention the model never scored (here one added after decoding) has no span vector:
    with the "vector" strategy it still gets linked (alias lookup), not an error."""
    [doc] = [d for d in load_dataset("bc5cdr", "test", data_dir) if d.id == "12535818"]
    model = KoGNER.from_encoder(None, ["Disease"], max_subwords=96, window_words=32)
    model.attach_index(EntityIndex.load(mesh_index_dir))
    model.config.link_strategy = "vector"
    start = doc.text.index("atrial fibrillation")
    added = PredictedMention(start, start + 19, "atrial fibrillation", "Disease", 0.99)
    monkeypatch.setattr(predictor, "harmonize_abbreviations", lambda text, found: [*found, added])
    [found] = model.predict([doc.text], threshold=1.01, abbreviation_consistency=True)  # nothing of its own
    assert [(m.start, m.text) for m in found] == [(start, "atrial fibrillation")]
    assert found[0].entity_id == model.index.canonical_id("MESH:D001281")


def test_mentions_carrying_span_vectors_link_later_as_predict_links_them_without_encoding_again(
    data_dir, mesh_index_dir
) -> None:
    """``predict(link=False, span_vectors=True)`` then ``link_mentions`` (the annotation job's
    two stages) gives ``predict``'s links with no second encoder pass; mentions without vectors
    (e.g. gold ones) are re-encoded for theirs and link the same."""
    texts = [d.text for d in load_dataset("bc5cdr", "test", data_dir)[:3]]
    torch.manual_seed(0)
    model = KoGNER.from_encoder(None, ["Disease"], max_subwords=512, window_words=400)  # one window per text
    model.attach_index(EntityIndex.load(mesh_index_dir))
    model.config.link_strategy, model.config.link_min_score = "vector", -1.0  # every mention by its vector
    linked = model.predict(texts, threshold=0.5)
    carried = model.predict(texts, threshold=0.5, link=False, span_vectors=True)
    assert sum(map(len, carried)) > 10 and all(m.span_vector is not None for found in carried for m in found)
    encoder_calls = []
    with patch.object(model.encoder, "forward", side_effect=lambda *a, **kw: encoder_calls.append(1)):
        later = model.link_mentions(texts, carried)
    assert not encoder_calls
    assert later == linked and all(m.span_vector is None for found in later for m in found)
    assert {m.entity_id for found in later for m in found} != {None}
    bare = [[replace(m, span_vector=None) for m in found] for found in carried]
    with patch.object(model.encoder, "forward", wraps=model.encoder.forward) as forward:
        again = model.link_mentions(texts, bare)  # re-encoded (other batches): the same vectors, the same links
    assert forward.called
    assert [m.entity_id for found in again for m in found] == [m.entity_id for found in linked for m in found]
    assert [m.link_score for found in again for m in found] == pytest.approx(
        [m.link_score for found in linked for m in found], abs=1e-5
    )
    model.config.link_strategy = "alias"  # nothing to carry: the text is all the alias lookup needs
    assert all(m.span_vector is None for found in model.predict(texts, link=False, span_vectors=True) for m in found)

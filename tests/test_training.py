"""Training: config parsing, chunk labels, and a few optimizer steps on real sentences."""

from __future__ import annotations

import pytest
import torch

from kogner.datasets import load_dataset
from kogner.errors import InputFormatError
from kogner.model import KoGNER
from kogner.model.spans import collate
from kogner.training import Corpus, TrainConfig, batch_loss, build_chunks, map_types

NCBI_TYPES = dict.fromkeys(["SpecificDisease", "DiseaseClass", "Modifier", "CompositeMention"], "Disease")


def test_train_config_from_toml_rejects_unknown_keys(tmp_path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('output_dir = "out"\ndatasets = ["ncbi-disease"]\nlambda_dist = 0.5\n')
    config = TrainConfig.from_toml(good)
    assert config.datasets == ["ncbi-disease"] and config.lambda_dist == 0.5
    bad = tmp_path / "bad.toml"
    bad.write_text('output_dir = "out"\nlearning_rate = 1\n')
    with pytest.raises(InputFormatError, match="learning_rate"):
        TrainConfig.from_toml(bad)


def test_a_few_steps_reduce_the_loss_on_real_sentences(data_dir) -> None:
    torch.manual_seed(0)
    docs = map_types(load_dataset("ncbi-disease", "train", data_dir)[:2], NCBI_TYPES)
    model = KoGNER.from_encoder(None, ["Disease"], max_span_width=8, max_subwords=64, window_words=24)
    chunks = build_chunks(model, Corpus("ncbi", docs, [], ["Disease"]))
    labelled = [c for c in chunks if c.gold][:4]
    gold_texts = {
        model.tokenizer.decode(c.input_ids[c.word_first[i] : c.word_last[j] + 1]) for c in labelled for i, j in c.gold
    }
    assert "hemochromatosis" in gold_texts or "skin tumour" in gold_texts
    batch = collate(labelled, model.config.max_span_width, model.tokenizer.pad_token_id)
    allowed = torch.ones(len(labelled), 1, dtype=torch.bool)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
    model.train()
    losses = []
    for _ in range(5):
        loss, _, _ = batch_loss(model, labelled, batch, allowed, None, 0.0)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]

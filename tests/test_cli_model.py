"""The CLI end to end on a real slice: train (tiny profile), resume, evaluate, annotate; bad numbers."""

from __future__ import annotations

import io
import json
import sys

import pytest
import torch

from kogner.cli import main
from kogner.datasets import load_dataset


def test_train_evaluate_annotate(tmp_path, data_dir, capsys, monkeypatch) -> None:
    config = tmp_path / "tiny.toml"
    out = tmp_path / "run"
    config.write_text(
        f'output_dir = "{out}"\ndatasets = ["ncbi-disease"]\ndata_dir = "{data_dir}"\n'
        "type_map = { SpecificDisease = 'Disease', DiseaseClass = 'Disease', Modifier = 'Disease',"
        " CompositeMention = 'Disease' }\n"
        "max_train_docs = 1\nmax_dev_docs = 1\nepochs = 1\nbatch_size = 8\nmax_words = 24\n"
        "max_subwords = 64\nmax_span_width = 6\n"
    )
    assert main(["train", str(config)]) == 0
    assert (out / "model" / "model.safetensors").is_file() and (out / "training_curves.png").is_file()
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 1 and 0.0 <= metrics[0]["dev_f1"] <= 1.0
    assert main(["train", str(config)]) == 0  # resumes from the checkpoint: nothing left to do
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1
    # an early-stopped run stays stopped when resumed, even with epochs left
    saved = torch.load(out / "checkpoint" / "training_state.pt", weights_only=False)
    saved["state"]["bad_epochs"] = 3  # TrainConfig.patience
    torch.save(saved, out / "checkpoint" / "training_state.pt")
    config.write_text(config.read_text().replace("epochs = 1", "epochs = 2"))
    assert main(["train", str(config)]) == 0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1
    capsys.readouterr()

    args = ["evaluate", str(out / "model"), "--dataset", "ncbi-disease", "--split", "test", "--limit", "1"]
    assert main([*args, "--data-dir", str(data_dir)]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["types"] == ["Disease"] and scores["ner"]["tp"] + scores["ner"]["fn"] > 0
    args = ["evaluate", str(out / "model"), "--dataset", "bc5cdr-disease", "--limit", "1", "--data-dir", str(data_dir)]
    assert main([*args, "--whole-documents"]) == 0  # the first abstract, not its title sentence alone
    scores = json.loads(capsys.readouterr().out)
    abstract = load_dataset("bc5cdr-disease", "test", data_dir, whole_documents=True)[0]
    assert scores["whole_documents"] and scores["ner"]["tp"] + scores["ner"]["fn"] == len(abstract.mentions) > 3

    monkeypatch.setattr(sys, "stdin", io.StringIO("Familial hypercholesterolemia in two brothers.\n\nSecond one.\n"))
    assert main(["annotate", str(out / "model"), "-", "--format", "jsonl", "--threshold", "0.0", "--no-link"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["mentions"] and all(m["type"] == "Disease" for m in first["mentions"])

    assert main(["evaluate", str(out / "model"), "--dataset", "bc2gm", "--data-dir", str(data_dir)]) == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["annotate", "MODEL", "-", "--batch-size", "0"], "argument --batch-size: must be at least 1, got 0"),
        (["annotate", "MODEL", "-", "--threshold", "1.5"], "argument --threshold: must be in [0, 1], got 1.5"),
        (["evaluate", "MODEL", "--dataset", "bc5cdr", "--limit", "-3"], "argument --limit: must be at least 1, got -3"),
        (["link", "INDEX", "aspirin", "-k", "0"], "argument -k: must be at least 1, got 0"),
    ],
)
def test_a_number_out_of_range_is_a_usage_error_naming_the_option(capsys, argv, message) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip().endswith(message)

"""NER benchmark grid: datasets x lambda_dist x seeds, one JSON result per run (resumable).

    python bench/ner.py --out bench/results/ner [--datasets ncbi-disease,...] [--lambdas 0,0.5]
        [--seeds 13,14,15] [--epochs 10] [--batch-size 16] [--encoder-lr 1e-4] [--head-lr 1e-3]
        [--train-word-embeddings] [--max-train-docs N] [--test-limit N] [--index-dir DIR]
        [--extra-datasets biored,FILE] [--fit-dev] [--pos-weight 5]
    python bench/ner.py --out bench/results/ner --summary   # the markdown table of what ran, and OUT/grid.png
    python bench/ner.py --out bench/results/ner --datasets bc5cdr-chem --rescore  # score finished runs again

Each run trains with ``kogner.training.train`` (itself resumable from its checkpoint),
scores the test split with ``evaluate_model`` (strict NER; NER+linking where the corpus
has ids and an index is given; where dev tuning turned abbreviation consistency on, once
more without it, as its ablation; for BC5CDR-chem and -disease, whose CoNLL files hold single
sentences, also with each sentence read in its abstract) and records training seconds per
epoch and inference sentences/s and words/s. A finished run is never trained again;
``--rescore`` scores its saved model on test again (a new scoring, no new training).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import statistics
from pathlib import Path

from kogner.datasets import get_dataset, load_dataset
from kogner.io import atomic_path
from kogner.model import KoGNER
from kogner.text import sentence_spans, word_spans
from kogner.training import TrainConfig, evaluate_model, train

NCBI_TYPES = dict.fromkeys(["SpecificDisease", "DiseaseClass", "Modifier", "CompositeMention"], "Disease")
GRID = {  # benchmark name -> (registry datasets, type map)
    "ncbi-disease": (["ncbi-disease"], NCBI_TYPES),
    "bc5cdr-chem": (["bc5cdr-chem"], {}),
    "bc5cdr-disease": (["bc5cdr-disease"], {}),
    "bc5cdr": (["bc5cdr"], {}),
    "bc2gm": (["bc2gm"], {}),
}
FIT_DEV = "-traindev"  # run-name suffix of --fit-dev models
EXTRA_TYPES = {  # --extra-datasets: how their types name the grid's (BioRED's guidelines differ in places)
    "biored": {"ChemicalEntity": "Chemical", "DiseaseOrPhenotypicFeature": "Disease", "GeneOrGeneProduct": "GENE"},
}


def run_one(name: str, lambda_dist: float, seed: int, args: argparse.Namespace, fit_dev: bool = False) -> dict:
    """Train and score one model. With ``fit_dev``, on train + dev, for as many epochs as the
    same run on train alone kept, with that run's dev-tuned decisions (BioBERT's protocol)."""
    datasets, type_map = GRID[name]
    tuned_dir = Path(args.out) / "runs" / f"{name}-lam{lambda_dist:g}-seed{seed}"
    run_dir = tuned_dir.with_name(tuned_dir.name + FIT_DEV) if fit_dev else tuned_dir
    config = TrainConfig(
        output_dir=str(run_dir),
        encoder=args.encoder,
        datasets=datasets,
        extra_datasets=args.extra_datasets,
        type_map={**type_map, **{k: v for extra in args.extra_datasets for k, v in EXTRA_TYPES.get(extra, {}).items()}},
        epochs=best_epoch(tuned_dir) if fit_dev else args.epochs,
        decisions_from=str(tuned_dir / "model") if fit_dev else None,
        batch_size=args.batch_size,
        encoder_lr=args.encoder_lr,
        head_lr=args.head_lr,
        pos_weight=args.pos_weight,
        adversarial_epsilon=args.adversarial_epsilon,
        freeze_word_embeddings=not args.train_word_embeddings,
        lambda_dist=lambda_dist,
        index_dir=args.index_dir,
        kg_dictionary=not args.no_kg_dictionary,
        case_features=args.case_features,
        boundary_head=not args.no_boundary_head,
        whole_documents=args.whole_documents,
        seed=seed,
        max_train_docs=args.max_train_docs,
        max_dev_docs=args.max_dev_docs,
        data_dir=args.data_dir,
    )
    train(config)
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {
        "dataset": f"{name} (train+dev)" if fit_dev else name,
        "lambda_dist": lambda_dist,
        "seed": seed,
        "epochs_run": len(metrics),
        "train_seconds_per_epoch": statistics.mean(m["train_seconds"] for m in metrics),
        "best_dev_f1": max((m["dev_f1"] for m in metrics if "dev_f1" in m), default=None),
        **test_scores(name, run_dir / "model", args),
        "settings": {k: v for k, v in vars(args).items() if k not in ("summary", "rescore")},
    }


def best_epoch(run_dir: Path) -> int:
    """The epoch whose model a finished run kept (its best dev F1)."""
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return max(metrics, key=lambda m: m["dev_f1"])["epoch"]


def test_scores(name: str, model_dir: Path, args: argparse.Namespace) -> dict:
    """The model's test scores, with and without abbreviation consistency; for sentences that
    come from whole abstracts (BC5CDR-chem, -disease) also with each sentence read in its
    abstract (``load_dataset(whole_documents=True)``)."""
    datasets, type_map = GRID[name]
    model = KoGNER.from_pretrained(model_dir, index_dir=args.index_dir, inference_only=True)
    dataset = get_dataset(datasets[0])
    prefixes = {type_map.get(t, t): p for t, p in dataset.id_prefixes.items()}
    consistency = model.config.abbreviation_consistency

    def ner_scores(documents: list) -> tuple[dict, dict]:
        """(scores with the model's settings, NER scores without abbreviation consistency)."""
        scores = evaluate_model(model, documents, None, prefixes, type_map)
        if not consistency:
            return scores, scores["ner"]
        model.config.abbreviation_consistency = False  # the post-processing step's ablation, same threshold
        without = evaluate_model(model, documents, None, prefixes, type_map)["ner"]
        model.config.abbreviation_consistency = True
        return scores, without

    documents = load_dataset(datasets[0], "test", args.data_dir)[: args.test_limit]
    scores, without = ner_scores(documents)
    sentences = sum(len(sentence_spans(d.text)) for d in documents)
    words = sum(len(word_spans(d.text)) for d in documents)
    result = {
        "threshold": model.config.threshold,
        "link_threshold": model.config.link_threshold,
        "abbreviation_consistency": consistency,
        "kg_dictionary_types": model.config.kg_dictionary_types,
        "test_documents": len(documents),
        "test_ner": scores["ner"],
        "test_ner_without_consistency": without,
        "test_linking": scores.get("linking"),
        "sentences_per_second": sentences / scores["predict_seconds"],
        "words_per_second": words / scores["predict_seconds"],
    }
    if model.config.boundary_threshold > 0:  # the boundary filter's ablation: the same model scoring every span
        chosen, model.config.boundary_threshold = model.config.boundary_threshold, 0.0
        every_span = evaluate_model(model, documents, None, prefixes, type_map)
        model.config.boundary_threshold = chosen
        result["boundary_threshold"] = chosen
        result["test_ner_every_span"] = every_span["ner"]
        result["every_span_sentences_per_second"] = sentences / every_span["predict_seconds"]
    if dataset.sentences_of and args.test_limit is None:
        whole, whole_without = ner_scores(load_dataset(datasets[0], "test", args.data_dir, whole_documents=True))
        result["test_ner_whole_documents"] = whole["ner"]
        result["test_ner_whole_documents_without_consistency"] = whole_without
    return result


def grouped_results(out: Path) -> dict[tuple[str, float], list[dict]]:
    """Finished runs by (dataset, lambda)."""
    groups: dict[tuple[str, float], list[dict]] = {}
    for path in sorted((out / "results").glob("*.json")):
        result = json.loads(path.read_text())
        groups.setdefault((result["dataset"], result["lambda_dist"]), []).append(result)
    return dict(sorted(groups.items()))


def plot(groups: dict[tuple[str, float], list[dict]], path: Path) -> None:
    """Test F1 per dataset: a bar per lambda (mean over seeds) with each seed as a dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({name for name, _ in groups})
    lambdas = sorted({lam for _, lam in groups})
    width = 0.8 / len(lambdas)
    figure, axes = plt.subplots(figsize=(max(5, 2 * len(names)), 3.5))
    for number, lam in enumerate(lambdas):
        label = f"λ = {lam:g}"  # on the first bar of this lambda, whichever dataset has it
        for i, name in enumerate(names):
            f1s = [100 * r["test_ner"]["f1"] for r in groups.get((name, lam), [])]
            if f1s:
                x = i + number * width
                axes.bar(x, statistics.mean(f1s), width, color=f"C{number}", label=label)
                axes.scatter([x] * len(f1s), f1s, color="black", s=10, zorder=3)
                label = None
    axes.set_xticks([i + width * (len(lambdas) - 1) / 2 for i in range(len(names))], names)
    low = min(100 * r["test_ner"]["f1"] for runs in groups.values() for r in runs)
    axes.set_ylim(max(0, low - 5), 100)
    axes.set_ylabel("test strict F1 (dots: seeds)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def summary(out: Path) -> str:
    """A markdown table: mean ± sd over seeds per dataset and lambda (and ``OUT/grid.png``)."""
    groups = grouped_results(out)
    if groups:
        plot(groups, out / "grid.png")
    lines = [
        "| dataset | λ | seeds | test NER F1 | without abbreviation consistency | sentences in their abstracts "
        "| by type (F1) | NER+linking F1 | s/epoch | sentences/s | words/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (name, lam), runs in groups.items():
        linking = [r["test_linking"]["f1"] for r in runs if r.get("test_linking")]
        without = [r["test_ner_without_consistency"]["f1"] for r in runs if "test_ner_without_consistency" in r]
        whole = [r["test_ner_whole_documents"]["f1"] for r in runs if "test_ner_whole_documents" in r]
        types = sorted(runs[0]["test_ner"]["per_type"])
        by_type = ", ".join(f"{t} {_mean_sd([r['test_ner']['per_type'][t]['f1'] for r in runs])}" for t in types)
        lines.append(
            f"| {name} | {lam:g} | {len(runs)} | {_mean_sd([r['test_ner']['f1'] for r in runs])} | "
            f"{_mean_sd(without) if len(without) == len(runs) else '-'} | "
            f"{_mean_sd(whole) if len(whole) == len(runs) else '-'} | "
            f"{by_type if len(types) > 1 else '-'} | "
            f"{_mean_sd(linking) if linking else '-'} | "
            f"{statistics.mean(r['train_seconds_per_epoch'] for r in runs):.0f} | "
            f"{statistics.mean(r['sentences_per_second'] for r in runs):.1f} | "
            f"{statistics.mean(r['words_per_second'] for r in runs):.0f} |"
        )
    return "\n".join(lines)


def _mean_sd(values: list[float]) -> str:
    mean = 100 * statistics.mean(values)
    return f"{mean:.1f} ± {100 * statistics.stdev(values):.1f}" if len(values) > 1 else f"{mean:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/results/ner")
    parser.add_argument("--datasets", default=",".join(GRID))
    parser.add_argument("--lambdas", default="0,0.5")
    parser.add_argument("--seeds", default="13,14,15")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size, help="training chunks per step")
    parser.add_argument("--encoder-lr", type=float, default=TrainConfig.encoder_lr, help="encoder peak lr")
    parser.add_argument("--head-lr", type=float, default=TrainConfig.head_lr, help="span/type heads' peak lr")
    parser.add_argument(
        "--pos-weight", type=float, default=TrainConfig.pos_weight, help="L_lang's weight on gold (span, type) pairs"
    )
    parser.add_argument(
        "--adversarial-epsilon",
        type=float,
        default=TrainConfig.adversarial_epsilon,
        help="FGM: also train on input embeddings moved this far against the model (0 = off)",
    )
    parser.add_argument(
        "--train-word-embeddings", action="store_true", help="fine-tune the encoder's word embeddings too"
    )
    parser.add_argument("--encoder")
    parser.add_argument("--index-dir", help="entity index: distillation targets, linking, KG dictionary features")
    parser.add_argument("--no-kg-dictionary", action="store_true", help="train without KG dictionary features")
    parser.add_argument("--case-features", action="store_true", help="subword capitalization into the encoder input")
    parser.add_argument("--no-boundary-head", action="store_true", help="score every span (no boundary filter)")
    parser.add_argument(
        "--whole-documents",
        action="store_true",
        help="train and tune on BC5CDR-chem/-disease sentences in their abstracts",
    )
    parser.add_argument(
        "--extra-datasets",
        type=lambda value: value.split(","),
        default=[],
        help=f"more training data only: registry datasets, types mapped onto the grid's ({', '.join(EXTRA_TYPES)}), "
        "or document files whose types are the grid's (e.g. abstracts labelled by other models)",
    )
    parser.add_argument("--data-dir")
    parser.add_argument("--max-train-docs", type=int)
    parser.add_argument("--max-dev-docs", type=int)
    parser.add_argument("--test-limit", type=int)
    parser.add_argument(
        "--fit-dev",
        action="store_true",
        help=f"after each run, train again on train + dev with its epochs and decisions (runs *{FIT_DEV})",
    )
    parser.add_argument("--summary", action="store_true", help="only print the table of finished runs")
    parser.add_argument("--rescore", action="store_true", help="score the finished runs' models on test again")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    out = Path(args.out)
    if not args.summary:
        lambdas = [float(x) for x in args.lambdas.split(",")]
        if not args.index_dir and any(lam > 0 for lam in lambdas):
            logging.warning("skipping lambda > 0: no --index-dir")
            lambdas = [lam for lam in lambdas if lam == 0]
        # Seeds outermost: an interrupted grid holds whole (lambda = 0, lambda > 0) pairs.
        for name in args.datasets.split(","):
            for seed in (int(x) for x in args.seeds.split(",")):
                for lambda_dist, fit_dev in itertools.product(lambdas, (False, True) if args.fit_dev else (False,)):
                    stem = f"{name}-lam{lambda_dist:g}-seed{seed}" + (FIT_DEV if fit_dev else "")
                    target = out / "results" / f"{stem}.json"
                    if target.exists() and args.rescore:
                        model_dir = out / "runs" / stem / "model"
                        result = {**json.loads(target.read_text()), **test_scores(name, model_dir, args)}
                    elif target.exists():
                        continue
                    else:
                        result = run_one(name, lambda_dist, seed, args, fit_dev)
                    with atomic_path(target) as tmp:
                        tmp.write_text(json.dumps(result, indent=2))
                    logging.info("%s: test F1 %.4f", target.name, result["test_ner"]["f1"])
    print(summary(out))


if __name__ == "__main__":
    main()

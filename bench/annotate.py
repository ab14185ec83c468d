"""Throughput of the Beam annotation job against the bare encoder (bench/RESULTS.md ``annotate``).

    nice -n 10 .venv/bin/python bench/annotate.py [--model MODEL_DIR] [--index INDEX_DIR] \\
        [--link auto|yes|no] [--min-docs 3000] [--workers 1 2] [--out workspace/bench/annotate]

Input: the real PubTator corpora and the MEDLINE file of the data directory, read by the
pipeline as they are (one shard per file; shards repeated under new names until there are
``--min-docs`` abstracts). Model: ``--model``, or a fresh KoGNER on the default MiniLM
encoder (the same network as a trained one, so the same cost per window; an untrained
model proposes more mentions, which only adds decoding work). ``--index``: link against this
entity index instead of the one the model names (e.g. the same KG with an HNSW alias index).
``--link no``: the job without its linking stage (what linking costs end to end).

Measured, in order, each written to ``OUT/results.json`` as soon as it is known:
1. ceiling: the bare encoder forward pass over the pipeline's own windows (same texts,
   same batch size, batches sorted by subword count over all windows at once), no Beam, run
   two ways: in one call on all cores, and in two threads with half the cores each as
   ``predict`` runs it (on 2 cores 8–9% faster here); each measured before
   and after the pipeline runs (the machine's speed drifts: single measurements moved 9%
   between runs), and the ceiling is the faster way's mean;
2. the pipeline with the DirectRunner, in-process (1 worker) and in multi_processing mode
   with N workers, each in a fresh process: wall time of a 1-document run (start-up:
   workers, model load; after a first 1-document run that warms the file cache) and of the
   full run; throughput excludes start-up (full - 1-document). Peak RSS: the benchmark
   process (in-process worker) and the largest worker process (multi_processing).
3. the model's own ``predict`` over a sample of the windows, no Beam (where the time goes
   between the encoder ceiling and the pipeline).
``OUT/throughput.png`` charts abstracts/s of the ceiling and the pipeline runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from kogner.corpora import read_corpus
from kogner.datadir import data_dir
from kogner.device import autocast, describe_cpu, map_in_threads
from kogner.encoder import pad_ids
from kogner.model import KoGNER
from pipelines.annotate import run
from pipelines.windows import document_windows

CORPORA = [
    "pubmed/medline16n0902.xml.gz",
    "ner/BC5CDR/pubtator/train.txt",
    "ner/BC5CDR/pubtator/devel.txt",
    "ner/BC5CDR/pubtator/test.txt",
    "ner/NCBI-disease/pubtator/train.txt",
    "ner/NCBI-disease/pubtator/devel.txt",
    "ner/NCBI-disease/pubtator/test.txt",
    "ner/BioRED/Train.PubTator",
    "ner/BioRED/Dev.PubTator",
    "ner/GNormPlus/train.pubtator",
]
PUBMED_BASELINE_ABSTRACTS = 36_000_000
log = logging.getLogger("bench.annotate")


def shard_inputs(root: Path, data: Path, min_docs: int) -> tuple[list[Path], int]:
    """Links to the real corpus files (shard names made unique), repeated to ``min_docs``."""
    root.mkdir(parents=True, exist_ok=True)
    shards, total, copy = [], 0, 0
    while total < min_docs:
        for relative in CORPORA:
            if total >= min_docs:
                break
            source = data / relative
            name = f"c{copy}-{relative.replace('/', '-')}"
            if name.endswith(".txt") or name.endswith(".PubTator"):
                name = name.rsplit(".", 1)[0] + ".pubtator"
            os.symlink(source, root / name)
            shards.append(root / name)
            total += sum(1 for _ in read_corpus(source))
        copy += 1
    return shards, total


def window_texts(model: KoGNER, shards: list[Path]) -> list[str]:
    """The texts of the windows the job makes of every document in ``shards``, in order."""
    config = model.config
    return [
        window.text
        for shard in shards
        for doc in read_corpus(shard)
        for window in document_windows(doc, config.window_words, config.window_overlap)
    ]


def encoder_ceiling(model: KoGNER, texts: list[str], batch_size: int, threaded: bool = False) -> dict[str, float]:
    """Seconds and subword tokens of the bare encoder over ``texts``: tokenized at once, in
    batches sorted by subword count over all texts (the least padding any batching gets); in
    one call using all cores, or ``threaded`` as ``predict`` runs them (``map_in_threads``)."""
    started = time.perf_counter()
    token_ids = model.tokenizer(texts, truncation=True, max_length=model.config.max_subwords)["input_ids"]
    order = sorted(range(len(texts)), key=lambda i: len(token_ids[i]))
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    pad_id = model.tokenizer.pad_token_id or 0

    @torch.inference_mode()
    def encode(batch: list[int]) -> None:
        ids, mask = pad_ids([token_ids[i] for i in batch], pad_id)
        with autocast(model.device):  # the model's own precision (bf16 on CPUs with native bf16)
            model.encoder(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))

    if threaded:
        map_in_threads(encode, batches, model.device)
    else:
        for batch in batches:
            encode(batch)
    return {"seconds": time.perf_counter() - started, "tokens": sum(map(len, token_ids))}


def pipeline_child(args: argparse.Namespace) -> None:
    """(In a fresh process) a 1-document run, then the full run; prints timings and RSS."""
    common = ["--model", args.model, "--batch_size", str(args.batch_size), "--runner", "DirectRunner"]
    common += ["--link", args.link]
    if args.index:
        common += ["--index", args.index]
    if args.workers > 1:
        common += ["--direct_running_mode", "multi_processing", "--direct_num_workers", str(args.workers)]
    # A first 1-document run reads the model and index files into the page cache: a start-up
    # measured cold (a GB index read from disk) would be larger than the full run's and inflate
    # its throughput. The second 1-document run is the start-up subtracted.
    started = time.perf_counter()
    run(["--input", args.tiny_input, "--output", args.out + "-warmup", *common])
    warmup = time.perf_counter() - started
    started = time.perf_counter()
    run(["--input", args.tiny_input, "--output", args.out + "-startup", *common])
    startup = time.perf_counter() - started
    started = time.perf_counter()
    manifests = run(["--input", args.input, "--output", args.out, *common])
    full = time.perf_counter() - started
    print(
        json.dumps(
            {
                "warmup_seconds": warmup,
                "startup_seconds": startup,
                "full_seconds": full,
                "documents": sum(m["documents_annotated"] for m in manifests),
                "dead_lettered": sum(m["documents_dead_lettered"] for m in manifests),
                "mentions": sum(m["mentions"] for m in manifests),
                "windows": sum(m["windows"] for m in manifests),
                "peak_rss_mib_self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "peak_rss_mib_workers": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            }
        )
    )


def plot(results: dict, path: Path) -> None:
    """Bar chart of abstracts/s: the encoder ceiling and each pipeline run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {"bare encoder\n(ceiling)": results["encoder_ceiling"]}
    runs |= {f"pipeline\n{k.split('_')[1]} worker(s)": v for k, v in results.items() if k.startswith("pipeline_")}
    figure, axes = plt.subplots(figsize=(6, 3.5))
    bars = axes.bar(list(runs), [run["abstracts_per_s"] for run in runs.values()], color=["grey"] + ["tab:blue"] * 9)
    axes.bar_label(bars, fmt="%.2f")
    axes.margins(y=0.12)  # room for the tallest bar's label
    axes.set_ylabel("abstracts / s")
    axes.set_title(f"KoGNER annotation, {results['input']['documents']} abstracts\n{results['machine']}")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="KoGNER model directory (default: fresh model on MiniLM)")
    parser.add_argument("--index", help="entity index for linking (default: the one the model names)")
    parser.add_argument("--link", choices=["auto", "yes", "no"], default="auto", help="the job's --link")
    parser.add_argument("--min-docs", type=int, default=3000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sample-windows", type=int, default=512, help="windows for the model-predict reference")
    parser.add_argument("--out", default="workspace/bench/annotate")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    results: dict = {"machine": describe_cpu(), "batch_size": args.batch_size}
    results |= {"index": args.index, "link": args.link}

    def record(key: str, value: object) -> None:
        results[key] = value
        (out / "results.json").write_text(json.dumps(results, indent=2))
        log.info("%s: %s", key, value)

    work = Path(tempfile.mkdtemp(prefix="kogner-bench-"))
    model_dir = args.model
    if model_dir is None:
        model_dir = str(KoGNER.from_encoder(None, ["Chemical", "Disease", "Gene"]).save_pretrained(work / "model"))
    model = KoGNER.from_pretrained(model_dir, device="cpu", inference_only=True)  # as the job loads it
    shards, documents = shard_inputs(work / "inputs", data_dir(), args.min_docs)
    tiny = work / "tiny" / "one.jsonl"
    tiny.parent.mkdir()
    first = next(iter(read_corpus(shards[0])))
    tiny.write_text(json.dumps(first.to_dict()) + "\n")
    texts = window_texts(model, shards)
    record("input", {"shards": len(shards), "documents": documents, "windows": len(texts)})

    ways = {"one_call": False, "threads": True}  # the bare encoder on all cores in one call, or as predict runs it
    before = {way: encoder_ceiling(model, texts, args.batch_size, threaded) for way, threaded in ways.items()}
    record("encoder_ceiling_before", before)
    runs = {}
    for workers in args.workers:
        command = [sys.executable, __file__, "_pipeline", "--model", model_dir, "--input", str(work / "inputs" / "*")]
        command += ["--tiny-input", str(tiny), "--out", str(work / f"out-{workers}"), "--workers", str(workers)]
        command += ["--batch-size", str(args.batch_size), "--link", args.link]
        command += ["--index", args.index] if args.index else []
        child = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
        runs[workers] = json.loads(child.stdout.strip().splitlines()[-1])
        record(f"pipeline_{workers}_workers", runs[workers])
    after = {way: encoder_ceiling(model, texts, args.batch_size, threaded) for way, threaded in ways.items()}
    # The machine's speed drifts: each way's mean bracketing the runs; the ceiling is the faster way.
    means = {way: (before[way]["seconds"] + after[way]["seconds"]) / 2 for way in ways}
    fastest = min(means, key=means.__getitem__)
    seconds, tokens = means[fastest], before[fastest]["tokens"]
    record(
        "encoder_ceiling",
        {
            "seconds": seconds,
            "way": fastest,
            "seconds_before_after": {way: [before[way]["seconds"], after[way]["seconds"]] for way in ways},
            "tokens": tokens,
            "abstracts_per_s": documents / seconds,
            "tokens_per_s": tokens / seconds,
        },
    )
    for workers, measured in runs.items():
        elapsed = measured["full_seconds"] - measured["startup_seconds"]
        measured |= {
            "seconds_excluding_startup": elapsed,
            "abstracts_per_s": measured["documents"] / elapsed,
            "tokens_per_s": tokens / elapsed,
            "fraction_of_ceiling": seconds / elapsed,
        }
        rate_per_core = measured["abstracts_per_s"] / (os.cpu_count() or 1)
        measured["pubmed_baseline_core_hours"] = PUBMED_BASELINE_ABSTRACTS / rate_per_core / 3600
        record(f"pipeline_{workers}_workers", measured)

    sample = texts[: args.sample_windows]
    started = time.perf_counter()
    model.predict(sample, batch_size=args.batch_size, link=False)
    predict_seconds = time.perf_counter() - started
    sample_ceiling = encoder_ceiling(model, sample, args.batch_size)["seconds"]
    record(
        "model_predict_sample",
        {"windows": len(sample), "seconds": predict_seconds, "encoder_seconds": sample_ceiling},
    )
    plot(results, out / "throughput.png")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_pipeline":
        child_parser = argparse.ArgumentParser()
        for option in ("--model", "--input", "--tiny-input", "--out"):
            child_parser.add_argument(option, required=True)
        child_parser.add_argument("--workers", type=int, default=1)
        child_parser.add_argument("--batch-size", type=int, default=32)
        child_parser.add_argument("--index")
        child_parser.add_argument("--link", default="auto")
        pipeline_child(child_parser.parse_args(sys.argv[2:]))
    else:
        main()

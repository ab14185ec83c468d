"""The annotation job against its ceiling with an encoder ``--speedup`` times faster, emulated on
this CPU with the same outputs (a CPU with native bf16 runs MiniLM ~5x faster than one in fp32).

A first run of the job (1 worker, in-process) stores each batch's encoder output and the thread
CPU time the encoder took on it; a second, in a fresh process, returns the stored output after
burning 1/speedup of that time in matrix products on the same thread (PyTorch releases the GIL
there, as in the encoder). Everything beside the encoder (the span head, linking, Beam) runs at
this CPU's speed, so for a CPU where those are faster too the ratio is a lower bound. Records the
emulated ceiling (the bare encoder over the same windows, as ``predict`` runs it, / speedup; and,
immune to the machine's drift between measurements, the encoder's recorded CPU time / its
threads / speedup), the job's seconds from its first ``predict`` to its end (start-up and reading
left out), their ratios and the mentions each run found (as many when the emulation is faithful).

    python bench/annotate_fast_encoder.py --model MODEL --index INDEX --speedup 5 --out DIR
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
from annotate import encoder_ceiling, shard_inputs, window_texts  # bench/annotate.py

from kogner.datadir import data_dir
from kogner.device import CPU_THREADS, describe_cpu
from kogner.io import atomic_path
from kogner.model import KoGNER
from kogner.model.spans import SpanBatch
from pipelines.annotate import run

log = logging.getLogger("bench.annotate_fast_encoder")


def emulate_encoder(store: Path, speedup: float | None) -> dict[bytes, tuple[torch.Tensor, float]]:
    """Patch ``KoGNER.encode``: without ``speedup``, record each batch's output and thread CPU
    time (returned, for the caller to save in ``store``); with it, replay them from ``store``,
    burning time / speedup."""
    encode = KoGNER.encode
    outputs: dict[bytes, tuple[torch.Tensor, float]] = {}
    lock = threading.Lock()

    def key(batch: SpanBatch) -> bytes:
        return str(tuple(batch.input_ids.shape)).encode() + batch.input_ids.numpy().tobytes()

    def recording(self: KoGNER, batch: SpanBatch, embedded: torch.Tensor | None = None) -> torch.Tensor:
        started = time.thread_time()
        hidden = encode(self, batch, embedded)
        with lock:
            outputs[key(batch)] = (hidden.clone(), time.thread_time() - started)
        return hidden

    left, right = torch.randn(128, 128), torch.randn(128, 128)

    def replaying(self: KoGNER, batch: SpanBatch, embedded: torch.Tensor | None = None) -> torch.Tensor:
        hidden, seconds = outputs[key(batch)]
        until = time.thread_time() + seconds / speedup
        while time.thread_time() < until:
            torch.mm(left, right)
        return hidden

    if speedup is None:
        KoGNER.encode = recording
    else:
        outputs.update(torch.load(store))
        KoGNER.encode = replaying
    return outputs


def job_child(args: argparse.Namespace) -> None:
    """(In a fresh process) the job, recording or replaying the encoder; prints its timings."""
    outputs = emulate_encoder(Path(args.store), args.speedup)
    first_predict: list[float] = []
    predict = KoGNER.predict

    def timed_predict(self: KoGNER, *positional: object, **keywords: object) -> list:
        first_predict.append(time.perf_counter())
        return predict(self, *positional, **keywords)

    KoGNER.predict = timed_predict
    options = ["--model", args.model, "--index", args.index, "--runner", "DirectRunner"]
    manifests = run(["--input", args.input, "--output", args.out, "--batch_size", str(args.batch_size), *options])
    ended = time.perf_counter()
    if args.speedup is None:
        torch.save(outputs, args.store)
    mentions = sum(m["mentions"] for m in manifests)
    encoder_cpu = sum(seconds for _, seconds in outputs.values())  # as recorded, whatever the mode
    timings = {"seconds_from_first_predict": ended - first_predict[0], "encoder_cpu_seconds": encoder_cpu}
    print(json.dumps(timings | {"mentions": mentions}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="KoGNER model directory")
    parser.add_argument("--index", required=True, help="entity index for linking")
    parser.add_argument("--speedup", type=float, default=5.0)
    parser.add_argument("--min-docs", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", default="workspace/bench/annotate-fast-encoder")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # The work directory holds the recorded encoder outputs (~0.7 GB per 1,000 abstracts): removed however the run ends.
    with tempfile.TemporaryDirectory(prefix="kogner-bench-") as work_dir:
        work = Path(work_dir)
        shards, documents = shard_inputs(work / "inputs", data_dir(), args.min_docs)
        model = KoGNER.from_pretrained(args.model, device="cpu", inference_only=True)
        texts = window_texts(model, shards)
        ceiling = encoder_ceiling(model, texts, args.batch_size, threaded=True)["seconds"]
        runs = {}
        for mode, speedup in (("record", []), ("replay", ["--speedup", str(args.speedup)])):
            command = [sys.executable, __file__, "_job", "--model", args.model, "--index", args.index]
            command += ["--input", str(work / "inputs" / "*"), "--out", str(work / mode)]
            command += ["--store", str(work / "encoder.pt"), "--batch-size", str(args.batch_size), *speedup]
            child = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
            runs[mode] = json.loads(child.stdout.strip().splitlines()[-1])
            log.info("%s: %s", mode, runs[mode])
        emulated = ceiling / args.speedup
        recorded = runs["record"]["encoder_cpu_seconds"] / CPU_THREADS / args.speedup
        results = {
            "machine": describe_cpu(),
            "documents": documents,
            "windows": len(texts),
            "speedup": args.speedup,
            "encoder_ceiling_seconds": ceiling,
            "emulated_ceiling_seconds": emulated,
            "runs": runs,
            "fraction_of_emulated_ceiling": emulated / runs["replay"]["seconds_from_first_predict"],
            "emulated_ceiling_from_recorded_seconds": recorded,
            "fraction_of_recorded_ceiling": recorded / runs["replay"]["seconds_from_first_predict"],
            "same_mention_count": runs["record"]["mentions"] == runs["replay"]["mentions"],
        }
        with atomic_path(out / "results.json") as tmp:
            tmp.write_text(json.dumps(results, indent=2))
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_job":
        child_parser = argparse.ArgumentParser()
        for option in ("--model", "--index", "--input", "--out", "--store"):
            child_parser.add_argument(option, required=True)
        child_parser.add_argument("--speedup", type=float)
        child_parser.add_argument("--batch-size", type=int, default=32)
        job_child(child_parser.parse_args(sys.argv[2:]))
    else:
        main()

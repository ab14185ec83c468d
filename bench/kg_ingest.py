"""KG ingestion benchmark: the dev KG (all of ../shared/data/kg) and a UMLS-sized synthetic
RRF set, each ingested in a fresh child process; prints wall time, rows/s and peak RSS.

    nice -n 10 .venv/bin/python bench/kg_ingest.py [--mrconso 5000000] [--mrrel 10000000]

The synthetic set mimics MRCONSO/MRREL/MRSTY layouts: about 3.3 English strings per CUI,
every CUI with an MSH code (so resolution links ids), semantic types over several groups,
MRREL rows between random CUIs with PAR/CHD/RO relations.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TUIS = ("T047", "T191", "T121", "T109", "T028", "T023", "T033", "T005", "T044", "T061", "T170")
SABS = ("MSH", "SNOMEDCT_US", "NCI", "MDR", "OMIM")


def generate_rrf(folder: Path, mrconso_rows: int, mrrel_rows: int, seed: int = 13) -> int:
    """Write MRCONSO/MRREL/MRSTY.RRF; returns the number of CUIs."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    cuis = max(1, int(mrconso_rows / 3.3))
    with (folder / "MRSTY.RRF").open("w") as sty:
        for n in range(cuis):
            sty.write(f"C{n:07d}|{TUIS[n % len(TUIS)]}|A1.2|Semantic type||\n")
    with (folder / "MRCONSO.RRF").open("w") as conso:
        row = 0
        for n in range(cuis):
            strings = 3 if n % 10 < 7 else 4
            for k in range(strings):
                if row == mrconso_rows:
                    break
                sab = "MSH" if k == 0 else SABS[(n + k) % len(SABS)]
                code = f"D{n:07d}" if sab == "MSH" else f"{sab[:2]}{n}{k}"
                text = f"synthetic concept {n} term {k}" + (" syndrome" if k == 0 else f" {rng.randrange(10**6)}")
                ts, stt, pref = ("P", "PF", "Y") if k == 0 else ("S", "VO", "N")
                conso.write(
                    f"C{n:07d}|ENG|{ts}|L{row}|{stt}|S{row}|{pref}|A{row}|||{code}|{sab}|{'PT' if k == 0 else 'SY'}"
                    f"|{code}|{text}|0|N|256|\n"
                )
                row += 1
    with (folder / "MRREL.RRF").open("w") as rel:
        rels = ("PAR", "CHD", "RO", "RB", "RN")
        for r in range(mrrel_rows):
            a, b = rng.randrange(cuis), rng.randrange(cuis)
            kind = rels[r % len(rels)]
            rela = "may_treat" if kind == "RO" else ""
            rel.write(f"C{a:07d}|A{a}|SCUI|{kind}|C{b:07d}|A{b}|SCUI|{rela}|R{r}||MSH|MSH|||N||\n")
    return cuis


def ingest_in_child(config: Path, out: Path, data_dir: Path | None) -> dict:
    """Run ``kogner kg ingest`` in a child process; returns seconds, peak RSS and counts."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    command = [sys.executable, "-m", "kogner", "kg", "ingest", str(config), str(out)]
    if data_dir:
        command += ["--data-dir", str(data_dir)]
    subprocess.run(command, check=True, cwd=REPO)
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    manifest = json.loads((out / "manifest.json").read_text())
    return {
        "seconds": round(seconds, 1),
        "peak_rss_mib": round(peak_kb / 1024) if peak_kb > before else None,
        "tables": manifest["counts"]["tables"],
        "entities_by_type": manifest["counts"]["entities_by_type"],
        "validation": manifest["validation"],
        "records": {s["name"]: s["records"] for s in manifest["sources"]},
        "resolution": {s["name"]: s["resolution"] for s in manifest["sources"]},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mrconso", type=int, default=5_000_000)
    parser.add_argument("--mrrel", type=int, default=10_000_000)
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--skip-dev", action="store_true")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp dir)")
    args = parser.parse_args(argv)
    results: dict = {}
    with tempfile.TemporaryDirectory(dir=args.work) as scratch:
        work = Path(scratch)
        if not args.skip_dev:
            results["dev"] = ingest_in_child(REPO / "configs/kg/dev.toml", work / "dev-kg", args.data_dir)
            print(json.dumps({"dev": results["dev"]}, indent=1), flush=True)
        started = time.perf_counter()
        cuis = generate_rrf(work / "META", args.mrconso, args.mrrel)
        generated = time.perf_counter() - started
        config = work / "umls.toml"
        config.write_text(
            f'name = "umls-synthetic"\n[[sources]]\nname = "umls"\nformat = "umls-rrf"\npath = "{work / "META"}"\n'
        )
        synthetic = ingest_in_child(config, work / "umls-kg", None)
        rows = args.mrconso + args.mrrel
        synthetic.update(
            mrconso_rows=args.mrconso,
            mrrel_rows=args.mrrel,
            cuis=cuis,
            generate_seconds=round(generated, 1),
            rows_per_second=round(rows / synthetic["seconds"]),
        )
        results["umls_synthetic"] = synthetic
    print(json.dumps({"umls_synthetic": results["umls_synthetic"]}, indent=1), flush=True)


if __name__ == "__main__":
    main()

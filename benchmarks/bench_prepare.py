"""Benchmark `prepare` (the real dbt build) on generated NAFLD-shaped extracts.

For each size, synth.rawgen writes a seeded raw extract (persons, long labs, events,
every column text, with the usual mess), a temporary configuration points
configs/nafld.yml's sources at it and its database at a temporary file, and
synth.pipeline.prepare builds it in a child process. Reported per size: source rows,
seconds, source rows per second and the peak resident memory of the dbt process
(the child's RUSAGE_CHILDREN maxrss).

    python benchmarks/bench_prepare.py                       # 10k, 100k, 1M persons
    python benchmarks/bench_prepare.py --persons 10000 --real  # plus the bundled NAFLD

Targets on a 2-core machine: the bundled NAFLD build under 20 s; 1M persons with 20
lab rows each under 5 minutes and 8 GB.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from synth import rawgen  # noqa: E402

log = logging.getLogger("bench_prepare")


def _write_config(work: Path, source_dir: Path | None) -> Path:
    raw = yaml.safe_load((REPO / "configs" / "nafld.yml").read_text())
    if source_dir is not None:
        raw["sources"]["dir"] = str(source_dir)
    raw["run_dir"] = str(work / "run")
    raw["database"] = str(work / "run" / "warehouse.duckdb")
    path = work / "bench.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _run_one(config_path: str) -> None:
    """Child process: prepare once and report on stdout as one JSON line."""
    import duckdb

    from synth import pipeline
    from synth.config import load_config

    cfg = load_config(config_path)
    start = time.perf_counter()
    result = pipeline.prepare(cfg)
    seconds = time.perf_counter() - start
    con = duckdb.connect(str(cfg.database), read_only=True)
    try:
        rows = con.execute("select sum(rows_read) from audit.source_row_counts").fetchone()[0]
    finally:
        con.close()
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    sys.stdout.write(
        json.dumps(
            {
                "seconds": seconds,
                "rows": int(rows),
                "peak_mb": peak_kb / 1024,
                "summary": result.summary,
            }
        )
        + "\n"
    )


def _measure(label: str, persons: int | None, config: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--one", str(config)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{label}: prepare failed:\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    report.update(label=label, persons=persons)
    log.info(
        "%s: %d source rows in %.1f s (%.0f rows/s), dbt peak memory %.0f MB",
        label,
        report["rows"],
        report["seconds"],
        report["rows"] / report["seconds"],
        report["peak_mb"],
    )
    return report


def main() -> None:
    """Command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--persons", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--labs-per-person", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real", action="store_true", help="also time the bundled NAFLD build")
    parser.add_argument("--workdir", help="folder for extracts and databases (default: temp)")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        _run_one(args.one)
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    results = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        if args.real:
            work = Path(tmp) / "real"
            work.mkdir()
            results.append(_measure("bundled NAFLD", 17_549, _write_config(work, None)))
            shutil.rmtree(work)
        for persons in args.persons:
            work = Path(tmp) / f"p{persons}"
            start = time.perf_counter()
            rawgen.generate(
                work / "raw",
                persons=persons,
                labs_per_person=args.labs_per_person,
                seed=args.seed,
            )
            log.info("generated %d persons in %.1f s", persons, time.perf_counter() - start)
            results.append(
                _measure(f"{persons} persons", persons, _write_config(work, work / "raw"))
            )
            shutil.rmtree(work)
    log.info("| persons | source rows | seconds | rows/s | dbt peak MB |")
    log.info("|---:|---:|---:|---:|---:|")
    for r in results:
        log.info(
            "| %s | %d | %.1f | %.0f | %.0f |",
            r["persons"],
            r["rows"],
            r["seconds"],
            r["rows"] / r["seconds"],
            r["peak_mb"],
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

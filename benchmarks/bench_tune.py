"""Does tuning pay? A 20-trial search on NAFLD against the default settings, on the holdout.

Needs the prepared database (``python -m synth prepare --config configs/nafld.yml``).
Steps, each through the normal pipeline so that both runs land in ``meta.runs``:

1. the default settings of the configuration: fit, sample, evaluate (~6 min on two cores);
2. ``tune`` with ``--trials 20`` and a search budget of 50 minutes (each trial ~2-3 min),
   then the picked trial retrained on the whole train split and evaluated (~5 min);
3. both runs compared on the holdout: shape and trend error, the utility gap and
   |balanced DCR share - 0.5| (lower is better for all four).

Expect about 60-70 minutes in all. The study lives in its own journal
(``<run_dir>/bench_tune.journal``), so a second run resumes it instead of starting over.
Results go to standard output and ``<run_dir>/bench_tune.json``. Run:

    PYTHONPATH=. .venv/bin/python benchmarks/bench_tune.py [--trials 20] [--search-seconds 3000]
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import duckdb

from synth import pipeline, warehouse
from synth.config import load_config
from synth.tuning import tune

log = logging.getLogger("bench_tune")

METRICS = ("shape_error", "trend_error", "utility_gap", "dcr_deviation")


def holdout_scores(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, float | None]:
    summary = dict(
        con.execute(
            "select metric, value from evaluation.summary where run_id = ?", [run_id]
        ).fetchall()
    )
    gap = con.execute(
        "select avg(gap) from evaluation.utility where run_id = ? and train_on = 'synthetic'",
        [run_id],
    ).fetchone()[0]
    balanced = summary.get("dcr_share_balanced")
    return {
        "shape_error": summary.get("shape_error"),
        "trend_error": summary.get("trend_error"),
        "utility_gap": gap,
        "dcr_deviation": None if balanced is None else abs(balanced - 0.5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/nafld.yml")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--search-seconds", type=float, default=3000.0)
    parser.add_argument("--skip-baseline", metavar="RUN_ID", help="reuse an evaluated run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    cfg = load_config(args.config)
    started = time.perf_counter()

    baseline = args.skip_baseline
    if baseline is None:
        baseline = pipeline.fit(cfg).details["run_id"]
        pipeline.sample(cfg, run_id=baseline)
        pipeline.evaluate(cfg, run_id=baseline)
    baseline_seconds = time.perf_counter() - started

    tuned = tune(
        cfg,
        trials=args.trials,
        timeout=args.search_seconds,
        storage=f"journal:{cfg.run_dir / 'bench_tune.journal'}",
        study_name=f"bench-{cfg.dataset}",
    )
    total = time.perf_counter() - started

    with warehouse.connect(cfg.database, read_only=True) as con:
        before = holdout_scores(con, baseline)
        after = holdout_scores(con, tuned.details["run_id"])
    rows, wins = [], 0
    for metric in METRICS:
        a, b = before[metric], after[metric]
        change = None if a is None or b is None else b - a
        wins += change is not None and change < 0
        rows.append({"metric": metric, "default": a, "tuned": b, "change": change})
    result = {
        "baseline_run": baseline,
        "tuned_run": tuned.details["run_id"],
        "picked_trial": tuned.details["pick"],
        "trials": tuned.details["trials"],
        "complete": tuned.details["complete"],
        "pruned": tuned.details["pruned"],
        "generator": tuned.details["generator"],
        "holdout": rows,
        "tuned_wins": wins,
        "baseline_seconds": baseline_seconds,
        "total_seconds": total,
    }
    (cfg.run_dir / "bench_tune.json").write_text(json.dumps(result, indent=2, default=str))
    print(f"{'metric':<15}{'default':>10}{'tuned':>10}{'change':>10}  (lower is better)")
    for r in rows:
        cells = [f"{v:>10.4f}" if v is not None else f"{'n/a':>10}" for v in list(r.values())[1:]]
        print(f"{r['metric']:<15}{''.join(cells)}")
    print(
        f"tuned pick (trial {tuned.details['pick']} of {tuned.details['trials']}) beats the "
        f"defaults on {wins} of {len(METRICS)} holdout metrics; {total / 60:.0f} min in all"
    )


if __name__ == "__main__":
    main()

"""Benchmark the generators on the real marts: training time, sampling speed, fidelity, privacy.

For each dataset (NAFLD and NHANES by default) the mart's train split is read from the
run's DuckDB database (built first with ``synth.pipeline.prepare`` when it is missing).
Three generators are trained on it: TabSyn with CorrDst, TabSyn without, and the
Gaussian copula. Each samples as many rows as the train split holds and is scored by
``synth.metrics.evaluate`` against the train and holdout splits, in an in-memory DuckDB
(the warehouse is only read). TabSyn without CorrDst is also scored with a raw decode
(``sampling.match_marginals`` off, same fitted model), which shows what the calibration
of the marginals adds. The Markdown table is printed and written to
``benchmarks/results/generator.md`` with the machine's load average. Run:

    PYTHONPATH=. .venv/bin/python benchmarks/bench_generator.py [--datasets nafld nhanes]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import torch

from synth import metrics, pipeline, quality
from synth.config import DatasetConfig, load_config
from synth.copula import GaussianCopula
from synth.tabsyn import TabSyn, TabSynConfig

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "generator.md"
logger = logging.getLogger("bench_generator")


@dataclass
class Row:
    """One generator's numbers on one dataset."""

    dataset: str
    generator: str
    fit_seconds: float
    rows_per_second: float
    summary: metrics.EvaluationSummary
    epochs: str


def _read_splits(cfg: DatasetConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    if not Path(cfg.database).exists():
        logger.info("%s: no database at %s; building it with prepare.", cfg.dataset, cfg.database)
        pipeline.prepare(cfg)
    with duckdb.connect(str(cfg.database), read_only=True) as con:
        train = con.execute(f"select * from {metrics.quote_name(cfg.mart.table + '_train')}").df()
        holdout = con.execute(
            f"select * from {metrics.quote_name(cfg.mart.table + '_holdout')}"
        ).df()
    return train, holdout


def _score(
    cfg: DatasetConfig,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    run_id: str,
    dcr_rows: int | None,
) -> metrics.EvaluationSummary:
    names = [spec.name for spec in cfg.mart.columns if not spec.is_identifier]
    with duckdb.connect() as con:
        metrics.write_frame(con, "train", train[names])
        metrics.write_frame(con, "holdout", holdout[names])
        metrics.write_frame(con, "synthetic", synthetic[names])
        return metrics.evaluate(
            con,
            real="train",
            synthetic="synthetic",
            holdout="holdout",
            columns=cfg.mart.columns,
            run_id=run_id,
            dcr_rows=dcr_rows,
        )


def _timed_sample(model: Any, rows: int) -> tuple[pd.DataFrame, float]:
    start = time.perf_counter()
    synthetic = model.sample(rows, seed=1)
    return synthetic, rows / (time.perf_counter() - start)


def bench_dataset(
    name: str, settings: dict[str, Any], dcr_rows: int | None, with_copula: bool = True
) -> list[Row]:
    """Train and score every generator on one dataset's mart.

    Args:
        name: Dataset name; ``configs/<name>.yml`` is read.
        settings: The generator section (profile and overrides) for both TabSyn runs.
        dcr_rows: Synthetic rows sampled for the distance metrics (None: all).
        with_copula: Also train the Gaussian copula.

    Returns:
        One row per generator.
    """
    cfg = load_config(ROOT / "configs" / f"{name}.yml")
    train, holdout = _read_splits(cfg)
    logger.info("%s: %d train rows, %d holdout rows", name, len(train), len(holdout))
    rows: list[Row] = []
    for label, corrdst in (("TabSyn + CorrDst", True), ("TabSyn", False)):
        merged = {**settings, "corrdst": {**settings.get("corrdst", {}), "enabled": corrdst}}
        model = TabSyn(TabSynConfig.from_dict(merged))
        start = time.perf_counter()
        model.fit(train, cfg.mart.columns)
        fit_seconds = time.perf_counter() - start
        epochs = f"{model.fit_report['vae']['epochs']} / {model.fit_report['diffusion']['epochs']}"
        synthetic, speed = _timed_sample(model, len(train))
        summary = _score(cfg, train, holdout, synthetic, f"{name}-{label}", dcr_rows)
        rows.append(Row(name, label, fit_seconds, speed, summary, epochs))
        if not corrdst:
            start = time.perf_counter()
            checked = quality.sample_checked(
                model,
                len(train),
                seed=1,
                rules=cfg.rules,
                train=train,
                columns=cfg.mart.columns,
                remove_exact_copies=cfg.privacy.remove_exact_copies,
                recompute=cfg.recompute,
            )
            speed = len(train) / (time.perf_counter() - start)
            summary = _score(cfg, train, holdout, checked.frame, f"{name}-qc", dcr_rows)
            rows.append(Row(name, "TabSyn, as a run samples", fit_seconds, speed, summary, epochs))
            model.config.sampling.match_marginals = False
            synthetic, speed = _timed_sample(model, len(train))
            summary = _score(cfg, train, holdout, synthetic, f"{name}-raw", dcr_rows)
            rows.append(Row(name, "TabSyn, raw decode", fit_seconds, speed, summary, epochs))
    if with_copula:
        model = GaussianCopula(seed=0)
        start = time.perf_counter()
        model.fit(train, cfg.mart.columns)
        fit_seconds = time.perf_counter() - start
        synthetic, speed = _timed_sample(model, len(train))
        summary = _score(cfg, train, holdout, synthetic, f"{name}-copula", dcr_rows)
        rows.append(Row(name, "Gaussian copula", fit_seconds, speed, summary, "-"))
    return rows


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def table(rows: list[Row]) -> str:
    """The Markdown table of the results."""
    lines = [
        "| dataset | generator | epochs (VAE / diffusion) | train s | sample rows/s | "
        "shape error | trend error | DCR share (ideal) | DCR share balanced (0.5) | "
        "exact copies |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        s = row.summary
        lines.append(
            f"| {row.dataset} | {row.generator} | {row.epochs} | {row.fit_seconds:.1f} | "
            f"{row.rows_per_second:,.0f} | {_fmt(s.shape_error)} | {_fmt(s.trend_error)} | "
            f"{_fmt(s.dcr_share, 3)} ({_fmt(s.dcr_share_ideal, 3)}) | "
            f"{_fmt(s.dcr_share_balanced, 3)} | {s.exact_copies} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["nafld", "nhanes"])
    parser.add_argument("--profile", default="default", help="generator profile of TabSyn")
    parser.add_argument("--set", default="{}", help="JSON overrides of the generator section")
    parser.add_argument("--dcr-rows", type=int, default=5000, help="0 measures every row")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("synth.tabsyn.vae", "synth.tabsyn.diffusion", "synth.metrics"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = {"profile": args.profile, **json.loads(args.set)}
    load_before = os.getloadavg()
    started = time.perf_counter()
    rows: list[Row] = []
    for name in args.datasets:
        rows += bench_dataset(name, settings, args.dcr_rows or None)
        logger.info("%s done after %.0fs", name, time.perf_counter() - started)
    load_after = os.getloadavg()
    text = "\n".join(
        [
            "# Generator benchmark",
            "",
            f"Generated by `benchmarks/bench_generator.py` on {time.strftime('%Y-%m-%d %H:%M')}: "
            f"{os.cpu_count()} CPU cores ({platform.machine()}), torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads; load average {load_before[0]:.1f} at the start "
            f"and {load_after[0]:.1f} at the end (a shared machine: seconds are noisy). "
            f"TabSyn settings: `{json.dumps(settings)}`; distances on "
            f"{args.dcr_rows or 'all'} synthetic rows. Errors are 1 - mean column shape and "
            "1 - mean pair trend against the train split; every generator samples as many "
            "rows as the train split holds. `as a run samples` is the TabSyn model of the "
            "row above sampled as `python -m synth sample` does: the dataset's recompute "
            "formulas and clinical rules and, where `privacy.remove_exact_copies` is set, "
            "copies of training rows replaced by fresh samples (rows/s include the checks). "
            "`raw decode` is the "
            "same model sampled with `sampling.match_marginals: false`.",
            "",
            table(rows),
            "",
        ]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    logger.info("wrote %s in %.0fs", args.out, time.perf_counter() - started)


if __name__ == "__main__":
    main()

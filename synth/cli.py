"""The command line: ``python -m synth {prepare,fit,sample,evaluate,tune,demo} --config FILE``.

Progress goes to the log (standard error), one line per step; each command ends by
printing one summary line on standard output.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from synth import pipeline
from synth.config import load_config
from synth.errors import SynthError

log = logging.getLogger("synth")

DEFAULT_CONFIG = "configs/nafld.yml"
EXIT_ERROR = 2  # a configuration, data or run error; the log says what to do
EXIT_PRIVACY_FAILED = 3  # `evaluate` found a privacy check failed

_DESCRIPTION = """\
Synthetic health records with TabSyn inside DuckDB.

Steps, in the order `demo` runs them:
  prepare   build the database with dbt (staging, marts, audit tables, data tests)
  fit       train the generator on the mart's train split
  sample    write as many synthetic rows as the train split to the database
  evaluate  fidelity and privacy metrics (definitions in sql/), attacks, utility, a verdict;
            exits 3 when a privacy check fails
  report    write the self-contained HTML report of the evaluated run

Not part of `demo`:
  tune      search the generator's settings (optuna, three objectives on a validation
            slice of the train split), retrain the pick and evaluate it on the holdout
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m synth",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    steps = parser.add_subparsers(dest="step", required=True, metavar="STEP")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = steps.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--config",
            default=DEFAULT_CONFIG,
            metavar="FILE",
            help=f"the dataset configuration file (default: {DEFAULT_CONFIG})",
        )
        return sub

    add("prepare", "build the database with dbt build (models and data tests)")
    fit = add("fit", "train a generator on the train split and register the run")
    fit.add_argument(
        "--generator",
        choices=("tabsyn", "copula"),
        default="tabsyn",
        help="tabsyn (default) or copula, the fast Gaussian copula baseline",
    )
    sample = add("sample", "sample synthetic rows into the database")
    sample.add_argument("--run", dest="run_id", help="the fitted run (default: the newest)")
    sample.add_argument("--rows", type=int, help="how many rows (default: train split size)")
    evaluate = add("evaluate", "score a sampled run: fidelity, privacy, utility, verdict")
    evaluate.add_argument("--run", dest="run_id", help="the sampled run (default: the newest)")
    report = add("report", "write the HTML report of an evaluated run")
    report.add_argument("--run", dest="run_id", help="the evaluated run (default: the newest)")
    report.add_argument("--output", type=Path, help="the HTML file (default: <run_dir>/reports/)")
    tune = add("tune", "search the generator's settings with optuna, retrain the pick")
    tune.add_argument("--trials", type=int, default=20, help="the study's total (default 20)")
    tune.add_argument("--timeout", type=float, metavar="S", help="seconds to search at most")
    tune.add_argument(
        "--storage",
        metavar="URL",
        help="journal:<file> (default <run_dir>/tuning.journal), sqlite:///<file> or a "
        "shared postgresql:// / mysql+pymysql:// database for several machines",
    )
    tune.add_argument("--study", metavar="NAME", help="study name (default <dataset>-<hash>)")
    tune.add_argument(
        "--search-only",
        action="store_true",
        help="run trials only (an extra worker); a later call without it picks and retrains",
    )
    demo = add("demo", "prepare, fit, sample, evaluate and report, in order")
    demo.add_argument(
        "--generator",
        choices=("tabsyn", "copula"),
        default="tabsyn",
        help="tabsyn (default) or copula",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one step of the pipeline; returns the process exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    try:
        cfg = load_config(args.config)
        if args.step == "prepare":
            results = [pipeline.prepare(cfg)]
        elif args.step == "fit":
            results = [pipeline.fit(cfg, generator=args.generator)]
        elif args.step == "sample":
            results = [pipeline.sample(cfg, run_id=args.run_id, rows=args.rows)]
        elif args.step == "evaluate":
            results = [pipeline.evaluate(cfg, run_id=args.run_id)]
        elif args.step == "report":
            results = [pipeline.report(cfg, run_id=args.run_id, path=args.output)]
        elif args.step == "tune":
            from synth.tuning import tune

            results = [
                tune(
                    cfg,
                    trials=args.trials,
                    timeout=args.timeout,
                    storage=args.storage,
                    study_name=args.study,
                    search_only=args.search_only,
                )
            ]
        else:
            results = pipeline.demo(cfg, generator=args.generator)
    except SynthError as exc:
        log.error("%s", exc)
        return EXIT_ERROR
    for result in results:
        print(result.summary)
    privacy_failed = [
        c
        for r in results
        for c in r.details.get("checks", [])
        if c.kind == "privacy" and c.passed is False
    ]
    if args.step == "demo":
        total = sum(r.seconds for r in results)
        print(f"demo: done in {total:.0f}s; database: {cfg.database}")
        print(f"  open it with SQL:   duckdb -readonly {cfg.database}  (metric macros included)")
        print("  open the explorer:  make app   (serves http://127.0.0.1:8501)")
        print(f"  read the report:    {results[-1].details['path']}")
        if privacy_failed:
            names = ", ".join(c.check_name for c in privacy_failed)
            print(f"  privacy checks FAILED ({names}): do not release this synthetic table.")
    elif privacy_failed:
        names = ", ".join(c.check_name for c in privacy_failed)
        log.error("privacy checks failed: %s; do not release this synthetic table", names)
        return EXIT_PRIVACY_FAILED
    return 0

"""The pipeline's steps: prepare, fit, sample, evaluate, and demo (all four in order).

Each step reads the dataset configuration, logs its progress in the user's terms and
returns a small result whose ``summary`` is the one line the command line prints.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from synth import quality, warehouse
from synth.config import DatasetConfig
from synth.errors import DataError, SynthError

# The generator, metric and report modules (torch, scikit-learn, plotly) are imported
# inside the steps that use them, so that `--help` and `prepare` start quickly.

log = logging.getLogger(__name__)

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
SYNTHETIC_SCHEMA = "synthetic"


@dataclass
class StepResult:
    """What a step did, with the one summary line the command line prints."""

    step: str
    seconds: float
    summary: str
    details: dict[str, Any]


def _dbt_executable() -> str:
    candidate = Path(sys.executable).parent / "dbt"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dbt")
    if found is None:
        raise SynthError("dbt is not installed in this environment; run `make install`.")
    return found


def prepare(cfg: DatasetConfig, *, select: str | None = None) -> StepResult:
    """Build the database with ``dbt build``: staging, intermediate, marts, audit and tests.

    Args:
        cfg: The dataset configuration.
        select: Optional dbt node selection (``--select``), for partial builds.

    Raises:
        SynthError: A source file named by the configuration is missing, or dbt
            failed; the message holds the end of its log.
        DataError: A column that sources.date_formats declares is not in its file.
    """
    start = time.perf_counter()
    for table in cfg.source_tables:
        path = cfg.source_dir / f"{table}.parquet"
        if not path.exists():
            raise SynthError(
                f"The source file {path} (configuration key sources.tables: {table}) does "
                "not exist; check sources.dir in the configuration."
            )
    for table, formats in cfg.date_formats.items():
        # A declared date column must exist, else staging would fail deep in dbt.
        path = cfg.source_dir / f"{table}.parquet"
        columns = {name.lower() for name in pq.read_schema(path).names}
        for column in formats:
            if column not in columns:
                raise DataError(
                    f"configuration key sources.date_formats.{table}.{column} declares a "
                    "date column the file does not have; fix the column name or remove it.",
                    source=str(path),
                    column=column,
                )
    cfg.database.parent.mkdir(parents=True, exist_ok=True)
    dbt_vars = {
        "config_path": str(cfg.path),
        "data_dir": str(cfg.source_dir),
        "dataset": cfg.dataset,
        "sql_dir": str(Path(__file__).resolve().parents[1] / "sql"),
    }
    cmd = [
        _dbt_executable(),
        "build",
        # Seeds are reloaded every time, so a changed seed file never meets an old table.
        "--full-refresh",
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--vars",
        json.dumps(dbt_vars),
    ]
    if select:
        cmd += ["--select", select]
    env = {
        **os.environ,
        "SYNTH_DATABASE": str(cfg.database),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    log.info("dbt build into %s", cfg.database)
    proc = subprocess.run(
        cmd, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, check=False
    )
    output = _strip_ansi(proc.stdout + proc.stderr)
    for line in output.splitlines():
        if re.search(r"\b(WARN|ERROR|FAIL)\b", line) and " of " in line:
            log.warning("dbt: %s", line.split("  ", 1)[-1].strip())
    totals = re.findall(r"Done\. PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)", output)
    if proc.returncode != 0 or not totals:
        tail = "\n".join(output.splitlines()[-25:])
        raise SynthError(f"dbt build failed (exit {proc.returncode}). Its last lines:\n{tail}")
    passed, warned, errors, skipped = (int(x) for x in totals[-1])
    with warehouse.connect(cfg.database, read_only=True) as con:
        counts = con.execute(
            f'select "{cfg.mart.split_column}", count(*) '
            f"from {warehouse.quote_table(cfg.mart.table)} group by 1 order by 1"
        ).fetchall()
        n_cols = len(warehouse.table_columns(con, cfg.mart.table))
        rejected = con.execute("select count(*) from audit.rejects").fetchone()[0]
        for source, read, kept, rej, dup in con.execute(
            "select source_name, rows_read, rows_kept, rows_rejected, rows_duplicate "
            "from audit.source_row_counts order by source_name"
        ).fetchall():
            log.info(
                "%s: %d rows read, %d kept, %d rejected, %d duplicates removed",
                source,
                read,
                kept,
                rej,
                dup,
            )
        for source, reason, n in con.execute(
            "select source_name, reject_reason, count(*) from audit.rejects "
            "group by all order by all"
        ).fetchall():
            log.info("%s: %d rows rejected: %s", source, n, reason)
    split_counts = {str(k): int(v) for k, v in counts}
    seconds = time.perf_counter() - start
    summary = (
        f"prepare: {cfg.mart.table} has {sum(split_counts.values())} rows x {n_cols} columns "
        f"({', '.join(f'{k} {v}' for k, v in split_counts.items())}); "
        f"{rejected} source rows rejected; dbt PASS={passed} WARN={warned} ERROR={errors} "
        f"SKIP={skipped}; {seconds:.1f}s"
    )
    return StepResult("prepare", seconds, summary, {"split": split_counts, "columns": n_cols})


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _train_view(cfg: DatasetConfig) -> str:
    return f"{cfg.mart.table}_train"


def _holdout_view(cfg: DatasetConfig) -> str:
    return f"{cfg.mart.table}_holdout"


def _make_generator(cfg: DatasetConfig, kind: str) -> Any:
    settings = dict(cfg.generator)
    if kind == "tabsyn":
        from synth.tabsyn import TabSyn, TabSynConfig

        return TabSyn(TabSynConfig.from_dict(settings, key="generator"))
    if kind == "copula":
        from synth.copula import GaussianCopula

        return GaussianCopula.from_dict(settings, key="generator")
    raise SynthError(f"Unknown generator {kind!r}; choose tabsyn or copula.")


def _load_generator(kind: str, path: Path) -> Any:
    if kind == "tabsyn":
        from synth.tabsyn import TabSyn

        return TabSyn.load(path)
    from synth.copula import GaussianCopula

    return GaussianCopula.load(path)


def fit(cfg: DatasetConfig, *, generator: str = "tabsyn") -> StepResult:
    """Train a generator on the train split and register the run in ``meta.runs``.

    Args:
        cfg: The dataset configuration.
        generator: ``tabsyn`` (the default) or ``copula`` (the fast baseline).
    """
    start = time.perf_counter()
    with warehouse.connect(cfg.database, read_only=True) as con:
        train = con.execute(f"select * from {warehouse.quote_table(_train_view(cfg))}").df()
    _check_mart_columns(cfg, list(train.columns))
    log.info(
        "fit %s on %d train rows x %d modelled columns",
        generator,
        len(train),
        len(cfg.mart.modelled),
    )
    model = _make_generator(cfg, generator)
    model.fit(train, cfg.mart.columns)
    run_id = warehouse.new_run_id()
    model_dir = cfg.run_dir / "models"
    model_dir.mkdir(parents=True, exist_ok=True)
    model_path = model_dir / f"{run_id}.{generator}"
    model.save(model_path)
    seconds = time.perf_counter() - start
    with warehouse.connect(cfg.database) as con:
        warehouse.record_run(
            con,
            run_id,
            dataset=cfg.dataset,
            config_hash=cfg.config_hash,
            generator=generator,
            seed=int(cfg.generator.get("seed", 0)),
            status="fitted",
            model_path=str(model_path),
            n_train=len(train),
            fit_seconds=seconds,
        )
    summary = f"fit: run {run_id} ({generator}) trained on {len(train)} rows in {seconds:.1f}s"
    return StepResult("fit", seconds, summary, {"run_id": run_id, "report": _report(model)})


def _report(model: Any) -> dict[str, Any]:
    return dict(getattr(model, "fit_report", {}) or {})


def _check_mart_columns(cfg: DatasetConfig, present: list[str]) -> None:
    missing = [c.name for c in cfg.mart.columns if c.name not in present]
    if missing:
        raise SynthError(
            f"The configuration's mart.columns names {missing}, which {cfg.mart.table} "
            "lacks; rebuild with `python -m synth prepare` or fix the configuration."
        )


def sample(cfg: DatasetConfig, *, run_id: str | None = None, rows: int | None = None) -> StepResult:
    """Sample synthetic rows from a fitted run and write them to the database.

    The rows go to a new table ``synthetic.<mart>__<run_id>`` typed like the mart, and the
    view ``synthetic.<mart>`` points at it; both change in one transaction. Rows that
    fail a configured rule (or copy a training row, if so configured) are replaced by
    more sampling; ``meta.qc_rejections`` records the counts (see synth/quality.py).

    Args:
        cfg: The dataset configuration.
        run_id: The fitted run to sample from; the newest fitted run by default.
        rows: How many rows; as many as the train split by default.
    """
    start = time.perf_counter()
    with warehouse.connect(cfg.database, read_only=True) as con:
        run = _pick_run(con, run_id)
    model = _load_generator(run["generator"], Path(run["model_path"]))
    n = int(rows if rows is not None else run["n_train"])
    if n < 1:
        raise SynthError(f"Cannot sample {n} rows; ask for at least 1 with --rows.")
    log.info("sample %d rows from run %s", n, run["run_id"])
    checked = quality.sample_for_run(
        cfg, model, n, seed=int(run["seed"]), train_view=_train_view(cfg)
    )
    frame = _add_structural_columns(cfg, checked.frame)
    mart_name = cfg.mart.table.rpartition(".")[2]
    table_name = f"{mart_name}__{run['run_id']}"
    seconds = time.perf_counter() - start
    with warehouse.connect(cfg.database) as con:
        table = warehouse.write_synthetic_table(
            con,
            frame,
            like=cfg.mart.table,
            schema=SYNTHETIC_SCHEMA,
            name=table_name,
            latest_view=mart_name,
        )
        # Its own transaction: write_synthetic_table commits the table and view itself.
        quality.record_rejections(con, run["run_id"], checked)
        warehouse.record_run(
            con,
            run["run_id"],
            status="sampled",
            n_synthetic=n,
            synthetic_table=table,
            sample_seconds=seconds,
        )
    rate = n / seconds if seconds > 0 else float("inf")
    summary = f"sample: {n} rows written to {table} in {seconds:.1f}s ({rate:,.0f} rows/s)"
    return StepResult("sample", seconds, summary, {"run_id": run["run_id"], "table": table})


def _pick_run(con: Any, run_id: str | None) -> dict[str, Any]:
    if run_id is not None:
        return warehouse.get_run(con, run_id)
    run = warehouse.latest_run(con)
    if run is None:
        raise SynthError("No fitted run yet; run `python -m synth fit --config FILE`.")
    return run


def _add_structural_columns(cfg: DatasetConfig, frame: Any) -> Any:
    """Give synthetic rows fresh identifiers and mark their split as ``synthetic``."""
    frame = frame.copy()
    if cfg.mart.identifier is not None:
        frame[cfg.mart.identifier] = range(1, len(frame) + 1)
    frame[cfg.mart.split_column] = "synthetic"
    return frame


def evaluate(cfg: DatasetConfig, *, run_id: str | None = None) -> StepResult:
    """Score a sampled run: fidelity, privacy attacks, utility, and a verdict.

    Column shapes and pair trends compare the synthetic table with the train split; the
    DCR share, the attacks and train-synthetic-test-real utility use the holdout. The
    verdict holds one pass/fail row per check (``evaluation.verdict``); the caller
    decides what a failed privacy check means (the command line exits non-zero).
    """
    from synth import attacks, metrics, utility, verdict

    start = time.perf_counter()
    with warehouse.connect(cfg.database) as con:
        run = _pick_run(con, run_id)
        table = run.get("synthetic_table")
        if not table:
            raise SynthError(f"Run {run['run_id']} has no synthetic table; sample it first.")
        metrics.load_macros(con)
        log.info("evaluate run %s: fidelity and distance metrics", run["run_id"])
        result = metrics.evaluate(
            con,
            real=_train_view(cfg),
            synthetic=table,
            holdout=_holdout_view(cfg),
            columns=cfg.mart.columns,
            run_id=run["run_id"],
            k=cfg.privacy.k,
        )
        log.info("evaluate run %s: privacy attacks", run["run_id"])
        attacks.evaluate_attacks(con, cfg, run["run_id"], synthetic=table)
        log.info("evaluate run %s: utility (train on synthetic, test on holdout)", run["run_id"])
        utility.evaluate_run_utility(con, cfg, run["run_id"], synthetic=table)
        checks = verdict.run_verdict(con, cfg, run["run_id"])
        seconds = time.perf_counter() - start
        warehouse.record_run(con, run["run_id"], status="evaluated", evaluate_seconds=seconds)
    for check in checks:
        outcome = {True: "PASS", False: "FAIL", None: "n/a "}[check.passed]
        value = "not measured" if check.value is None else f"{check.value:.4g}"
        log.info(
            "check %s %-8s %-32s %s (threshold %g)",
            outcome,
            check.kind,
            check.check_name,
            value,
            check.threshold,
        )
    failed = [c for c in checks if c.passed is False]
    privacy_failed = [c for c in failed if c.kind == "privacy"]
    summary = (
        f"evaluate: {result.as_line()}; checks: {len(checks) - len(failed)} of {len(checks)} "
        f"passed, {len(privacy_failed)} privacy failure(s) ({seconds:.1f}s)"
    )
    return StepResult(
        "evaluate",
        seconds,
        summary,
        {"run_id": run["run_id"], "result": result, "checks": checks},
    )


def report(
    cfg: DatasetConfig, *, run_id: str | None = None, path: Path | None = None
) -> StepResult:
    """Write the self-contained HTML report of an evaluated run.

    Args:
        cfg: The dataset configuration.
        run_id: The evaluated run; the newest run by default.
        path: Where to write; ``<run_dir>/reports/<run_id>.html`` by default.
    """
    from synth.report import write_report

    start = time.perf_counter()
    with warehouse.connect(cfg.database) as con:
        run = _pick_run(con, run_id)
        if run["status"] != "evaluated":
            raise SynthError(
                f"Run {run['run_id']} is {run['status']}, not evaluated; run "
                "`python -m synth evaluate` first."
            )
        target = path or cfg.run_dir / "reports" / f"{run['run_id']}.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        written = write_report(con, cfg, run["run_id"], target)
    seconds = time.perf_counter() - start
    summary = f"report: {written} ({seconds:.1f}s)"
    return StepResult("report", seconds, summary, {"run_id": run["run_id"], "path": written})


def demo(cfg: DatasetConfig, *, generator: str = "tabsyn") -> list[StepResult]:
    """Run prepare, fit, sample, evaluate and report, in order."""
    results = [prepare(cfg)]
    results.append(fit(cfg, generator=generator))
    run_id = results[-1].details["run_id"]
    results.append(sample(cfg, run_id=run_id))
    results.append(evaluate(cfg, run_id=run_id))
    results.append(report(cfg, run_id=run_id))
    return results

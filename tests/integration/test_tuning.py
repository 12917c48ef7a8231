"""Tuning on a slice of the real NAFLD cohort: real dbt, real (tiny) trials, real workers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import optuna
import pytest

from synth import pipeline
from synth.config import DatasetConfig, load_config
from synth.tuning import open_storage, tune
from tests.conftest import write_config

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

# Seconds per trial on two loaded cores: one or two epochs of tiny networks.
TINY_TUNING = {
    "seed": 5,
    "startup_trials": 2,
    "dcr_rows": 300,
    "synthetic_rows": 400,
    "utility": {"models": ["logistic_regression"], "bootstrap": 5},
    "pruning": {"startup_trials": 2, "probe_rows": 200},
    "space": {
        "batch_size": [128, 512],
        "width": [16, 32],
        "vae_epochs": [1, 2],
        "diffusion_epochs": [2, 4],
        "corrdst": [False, True],
    },
}


def _tiny(cfg: DatasetConfig, tmp_path: Path) -> DatasetConfig:
    path = write_config(
        tmp_path / "tune.yml",
        sources={"dir": str(cfg.source_dir), "tables": cfg.source_tables},
        run_dir=str(cfg.run_dir),
        database=str(cfg.database),
        generator={"seed": 3, "profile": "fast", "threads": 1, "sampling": {"steps": 4}},
        tuning=TINY_TUNING,
    )
    return load_config(path)


def test_tune_picks_retrains_and_reports(warehouse_copy: DatasetConfig, tmp_path: Path) -> None:
    # Setup
    cfg = _tiny(warehouse_copy, tmp_path)

    # Run
    result = tune(cfg, trials=3)
    report = pipeline.report(cfg, run_id=result.details["run_id"])

    # Assert: three trials, a pick retrained as a registered, evaluated run.
    assert result.details["trials"] == 3
    con = duckdb.connect(str(cfg.database), read_only=True)
    try:
        status, generator_hash = con.execute(
            "select status, config_hash from meta.runs where run_id = ?",
            [result.details["run_id"]],
        ).fetchone()
        trials = con.execute(
            "select trial_number, state, picked, mean_rank from evaluation.tuning_trials "
            "order by trial_number"
        ).fetchall()
        picks = con.execute("select trial_number, run_id from evaluation.tuning_picks").fetchall()
        holdout = con.execute(
            "select count(*) from evaluation.summary where run_id = ?", [result.details["run_id"]]
        ).fetchone()[0]
    finally:
        con.close()
    assert status == "evaluated"
    assert generator_hash != cfg.config_hash  # the run records the picked settings
    assert [t[0] for t in trials] == [0, 1, 2]
    assert [t[0] for t in trials if t[2]] == [result.details["pick"]]
    assert picks == [(result.details["pick"], result.details["run_id"])]
    assert holdout > 0
    page = Path(report.details["path"]).read_text(encoding="utf-8")
    assert "Tuning: how these settings were picked" in page
    assert "Parameter importances" in page


def test_two_workers_join_one_study(built_warehouse: DatasetConfig, tmp_path: Path) -> None:
    # Setup: a private journal; both workers read the shared slice read-only.
    cfg = _tiny(built_warehouse, tmp_path)
    journal = tmp_path / "study.journal"
    command = [
        sys.executable,
        "-m",
        "synth",
        "tune",
        "--config",
        str(cfg.path),
        "--trials",
        "3",
        "--storage",
        f"journal:{journal}",
        "--study",
        "workers",
        "--search-only",
    ]

    # Run: two processes at once.
    workers = [
        subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=240) for w in workers]

    # Assert: both finished, and the study holds trials from both processes.
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err.decode()[-2000:]
    study = optuna.load_study(study_name="workers", storage=open_storage(f"journal:{journal}"))
    pids = {t.user_attrs["worker"] for t in study.trials}
    assert pids == {f"{_host()}:{w.pid}" for w in workers}
    assert 3 <= len(study.trials) <= 4  # the total is shared; one may start past it


def _host() -> str:
    import socket

    return socket.gethostname()

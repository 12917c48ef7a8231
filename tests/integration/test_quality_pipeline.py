"""Quality control inside the real sample step, on a copy of the built NAFLD slice."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

from synth import pipeline
from synth.config import DatasetConfig, load_config

pytestmark = pytest.mark.integration

UNDER_60 = {"name": "under_60", "sql": "age_years < 60", "description": "Younger than 60."}


def test_sample_rejects_rows_and_records_counts(
    warehouse_copy: DatasetConfig, tmp_path: Path
) -> None:
    # Setup: the copula baseline, the bundled rules plus one that rejects a known share.
    raw = dict(warehouse_copy.raw)
    raw["generator"] = {"seed": 3}
    raw["rules"] = [*raw["rules"], UNDER_60]
    raw["privacy"] = {**raw["privacy"], "remove_exact_copies": True}
    path = tmp_path / "qc.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    cfg = load_config(path)
    run_id = pipeline.fit(cfg, generator="copula").details["run_id"]

    # Run
    result = pipeline.sample(cfg, run_id=run_id, rows=500)

    # Assert: counts per rule and for copies, and every written row passes the rule.
    con = duckdb.connect(str(cfg.database), read_only=True)
    try:
        counts = dict(
            con.execute(
                "select rule_name, rows_rejected from meta.qc_rejections where run_id = ?",
                [run_id],
            ).fetchall()
        )
        checked = con.execute(
            "select distinct rows_checked from meta.qc_rejections where run_id = ?", [run_id]
        ).fetchall()
        table = result.details["table"]
        n, failing = con.execute(
            f"select count(*), count(*) filter (where not (age_years < 60)) from {table}"
        ).fetchone()
        real_old = con.execute(
            "select avg((age_years >= 60)::int) from marts.persons_train"
        ).fetchone()[0]
    finally:
        con.close()
    assert set(counts) == {r.name for r in cfg.rules} | {"exact_copy"}
    assert n == 500 and failing == 0
    assert len(checked) == 1 and checked[0][0] > 500
    assert counts["under_60"] / checked[0][0] == pytest.approx(real_old, abs=0.1)

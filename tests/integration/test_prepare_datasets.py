"""prepare() on the bundled NHANES and PBC datasets, and sqlfluff over the models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from synth import pipeline
from synth.config import DatasetConfig, load_config

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _config_in(tmp_path: Path, dataset: str) -> DatasetConfig:
    raw = yaml.safe_load((REPO / "configs" / f"{dataset}.yml").read_text())
    raw["run_dir"] = str(tmp_path / "run")
    raw["database"] = str(tmp_path / "run" / "warehouse.duckdb")
    path = tmp_path / f"{dataset}.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_config(path)


@pytest.mark.parametrize(("dataset", "persons"), [("pbc", 418), ("nhanes", 8366)])
def test_prepare_builds_each_dataset(tmp_path: Path, dataset: str, persons: int) -> None:
    # Setup
    cfg = _config_in(tmp_path, dataset)

    # Run
    result = pipeline.prepare(cfg)

    # Assert: one row per person, the declared columns, nothing lost, views present.
    con = duckdb.connect(str(cfg.database), read_only=True)
    try:
        n, n_ids = con.execute(
            "select count(*), count(distinct person_id) from marts.persons"
        ).fetchone()
        columns = [r[0] for r in con.execute("describe marts.persons").fetchall()]
        accounting = con.execute(
            "select source_name, rows_in_file, rows_read, "
            "rows_kept + rows_rejected + rows_duplicate from audit.source_row_counts"
        ).fetchall()
        n_train = con.execute("select count(*) from marts.persons_train").fetchone()[0]
        n_holdout = con.execute("select count(*) from marts.persons_holdout").fetchone()[0]
    finally:
        con.close()
    assert n == n_ids == persons
    assert columns == [c.name for c in cfg.mart.columns] + [cfg.mart.split_column]
    assert sorted(s for s, *_ in accounting) == sorted(cfg.source_tables)
    for source, in_file, read, accounted in accounting:
        assert in_file == read == accounted, source
    assert n_train + n_holdout == n
    assert "ERROR=0" in result.summary


def test_nhanes_structural_missingness_and_missing_codes(tmp_path: Path) -> None:
    # Setup
    cfg = _config_in(tmp_path, "nhanes")
    pipeline.prepare(cfg)

    # Run
    con = duckdb.connect(str(cfg.database), read_only=True)
    try:
        children_asked = con.execute(
            "select count(is_ever_smoker) from marts.persons where age_years < 18"
        ).fetchone()[0]
        reasons = dict(
            con.execute("select reason, count(*) from audit.value_changes group by 1").fetchall()
        )
        max_alcohol_zero = con.execute(
            "select count(*) from canonical.measurement "
            "where measurement = 'alcohol_day1' and result_value = 0"
        ).fetchone()[0]
    finally:
        con.close()

    # Assert: NULL by design for children; refused / don't know recorded; artefacts 0.
    assert children_asked == 0
    assert reasons["refused"] > 0 and reasons["don't know"] > 0
    assert reasons["numeric artefact read as 0"] > 0
    assert max_alcohol_zero > 0


# Each dataset's models are enabled only when its configuration is the one being
# built, so sqlfluff lints each dataset under its own dbt context
# (dbt_project/lint/<dataset>.cfg): its staging and mapping models, and the
# shared models whose SQL the configuration writes (marts, audit). The NAFLD run
# lints every folder; the others are skipped there as disabled.
LINT_RUNS = {
    "nafld": ["models"],
    "nhanes": [
        "models/staging/nhanes",
        "models/intermediate/nhanes",
        "models/marts",
        "models/audit",
    ],
    "pbc": ["models/staging/pbc", "models/intermediate/pbc", "models/marts", "models/audit"],
}


def test_sqlfluff_lints_the_models_clean() -> None:
    # Run: one sqlfluff per dataset, side by side (each compiles the dbt project).
    env = {**os.environ, "SYNTH_DATABASE": ":memory:"}
    sqlfluff = str(Path(sys.executable).parent / "sqlfluff")
    procs = {
        dataset: subprocess.Popen(
            [
                sqlfluff,
                "lint",
                "--config",
                f"dbt_project/lint/{dataset}.cfg",
                "--format",
                "json",
                *paths,
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for dataset, paths in LINT_RUNS.items()
    }
    results = {dataset: proc.communicate(timeout=300) for dataset, proc in procs.items()}

    # Assert: no finding in any run, and every model was linted by some run.
    linted = set()
    for dataset, (stdout, stderr) in results.items():
        assert procs[dataset].returncode in (0, 1), f"{dataset}: {stderr[-2000:]}"
        findings = [
            f"{f['filepath']}:{v['start_line_no']} {v['code']} {v['description']}"
            for f in json.loads(stdout)
            for v in f["violations"]
        ]
        assert not findings, f"{dataset}:\n" + "\n".join(findings)
        linted |= {f["filepath"] for f in json.loads(stdout)}
    models = {str(p.relative_to(REPO)) for p in (REPO / "models").rglob("*.sql")}
    assert models - linted == set()

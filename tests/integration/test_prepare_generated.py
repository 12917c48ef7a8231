"""prepare() on generated extracts: row accounting, and dates read by declared formats."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
import yaml

from synth import pipeline, rawgen
from synth.config import DatasetConfig, load_config
from synth.errors import DataError

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, source_dir: Path, **sources: object) -> DatasetConfig:
    raw = yaml.safe_load((REPO / "configs" / "nafld.yml").read_text())
    raw["sources"] = {**raw["sources"], "dir": str(source_dir), **sources}
    raw["run_dir"] = str(tmp_path / "run")
    raw["database"] = str(tmp_path / "run" / "warehouse.duckdb")
    path = tmp_path / "generated.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_config(path)


def test_prepare_accounts_for_every_generated_row(tmp_path: Path) -> None:
    # Setup: a 2,000-person extract with every kind of mess.
    written = rawgen.generate(tmp_path / "raw", persons=2_000, labs_per_person=20, seed=11)
    cfg = _config(tmp_path, tmp_path / "raw")

    # Run
    result = pipeline.prepare(cfg)

    # Assert: read = kept + rejected + duplicates for every file, and each kind of
    # fault was met.
    con = duckdb.connect(str(cfg.database), read_only=True)
    try:
        counts = {
            row[0]: row[1:]
            for row in con.execute(
                "select source_name, rows_read, rows_kept, rows_rejected, rows_duplicate "
                "from audit.source_row_counts"
            ).fetchall()
        }
        reasons = {r for (r,) in con.execute("select reject_reason from audit.rejects").fetchall()}
        qualifiers = {
            q
            for (q,) in con.execute("select value_qualifier from canonical.measurement").fetchall()
        }
        persons = con.execute("select count(*) from marts.persons").fetchone()[0]
    finally:
        con.close()
    assert set(counts) == set(written)
    for table, (read, kept, rejected, duplicate) in counts.items():
        assert read == written[table] == kept + rejected + duplicate, table
        assert duplicate > 0, table
    assert {
        "value is not a number: n/a",
        "person not in the person table",
        "unknown condition code",
        "value outside the plausible range of systolic_bp",
    } <= reasons
    assert {"=", "<", ">"} <= qualifiers
    assert persons == counts["nafld1_persons"][1]
    assert "ERROR=0" in result.summary


def _write_dated_extract(folder: Path) -> None:
    """Three persons; labs and events carry calendar dates as cases c09 and c20 do."""
    folder.mkdir(parents=True)
    con = duckdb.connect()
    try:
        con.execute(
            f"""
            copy (
                select * from (values
                    ('1', '57', '0', '60.0', '163.0', '22.6', '1.0', '6261', '0'),
                    ('2', '67', '1', '70.4', '168.0', '24.9', '1.0', '624', '0'),
                    ('3', '53', '1', '105.8', '186.0', '30.5', '3.0', '1783', '1')
                ) as t(id, age, male, weight, height, bmi, "case.id", futime, status)
            ) to '{folder}/nafld1_persons.parquet' (format parquet)
            """
        )
        # c20: day-first dates, 31 February impossible; c09: a packed timestamp.
        con.execute(
            f"""
            copy (
                select * from (values
                    ('1', '-10', 'hdl', '50.0', '03/04/2021', '20220902110443000000'),
                    ('2', '-5', 'hdl', '61.0', '12/01/2021', '20220916230356000000'),
                    ('3', '-1', 'hdl', '45.0', '31/02/2021', '20220826173917000000'),
                    ('3', '-2', 'hdl', '44.0', null, '2022-08-26')
                ) as t(id, days, test, value, visit_date, lab_ts)
            ) to '{folder}/nafld2_labs_long.parquet' (format parquet)
            """
        )
        # c09: year-day-month dates.
        con.execute(
            f"""
            copy (
                select * from (values
                    ('1', '-100', 'htn', '2021-26-01'),
                    ('2', '-50', 'diabetes', '2021-30-01'),
                    ('3', '-20', 'afib', '2022-12-12')
                ) as t(id, days, event, diag_date)
            ) to '{folder}/nafld3_events_long.parquet' (format parquet)
            """
        )
    finally:
        con.close()


def test_dates_go_through_staging_by_their_declared_format(tmp_path: Path) -> None:
    # Setup
    _write_dated_extract(tmp_path / "raw")
    cfg = _config(
        tmp_path,
        tmp_path / "raw",
        date_formats={
            "nafld2_labs_long": {"visit_date": "%d/%m/%Y", "lab_ts": "%Y%m%d%H%M%S%f"},
            "nafld3_events_long": {"diag_date": "%Y-%d-%m"},
        },
    )

    # Run: the real dbt build.
    pipeline.prepare(cfg)

    # Assert: 03/04/2021 is 3 April; 2021-26-01 is 26 January; the packed stamp is a
    # timestamp; 31/02/2021 and a stamp in another format are rejected with their
    # line, column, value and format; nothing is lost.
    con = duckdb.connect(str(cfg.database), read_only=True)
    try:
        labs = con.execute(
            "select source_line, visit_date, lab_ts, reject_reason "
            "from staging.stg_nafld__labs order by source_line"
        ).fetchall()
        events = con.execute(
            "select diag_date from staging.stg_nafld__events order by source_line"
        ).fetchall()
        rejects = con.execute(
            "select source_name, source_line, reject_reason from audit.rejects order by source_line"
        ).fetchall()
        accounting = con.execute(
            "select rows_read, rows_kept + rows_rejected + rows_duplicate "
            "from audit.source_row_counts"
        ).fetchall()
    finally:
        con.close()
    assert [r[1] for r in labs] == [dt.date(2021, 4, 3), dt.date(2021, 1, 12), None, None]
    assert labs[0][2] == dt.datetime(2022, 9, 2, 11, 4, 43)
    assert [e[0] for e in events] == [
        dt.date(2021, 1, 26),
        dt.date(2021, 1, 30),
        dt.date(2022, 12, 12),
    ]
    assert rejects == [
        (
            "nafld2_labs_long",
            4,
            "visit_date is not a date in the declared format %d/%m/%Y: 31/02/2021",
        ),
        (
            "nafld2_labs_long",
            5,
            "lab_ts is not a timestamp in the declared format %Y%m%d%H%M%S%f: 2022-08-26",
        ),
    ]
    assert all(read == accounted for read, accounted in accounting)


def test_a_declared_date_column_must_exist(tmp_path: Path) -> None:
    # Setup
    _write_dated_extract(tmp_path / "raw")
    cfg = _config(
        tmp_path, tmp_path / "raw", date_formats={"nafld1_persons": {"birth_date": "%Y-%m-%d"}}
    )

    # Run / Assert: refused before dbt runs, naming the key.
    with pytest.raises(DataError, match=r"sources\.date_formats\.nafld1_persons\.birth_date"):
        pipeline.prepare(cfg)

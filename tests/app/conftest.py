"""A small warehouse for the explorer's tests, built from the bundled NAFLD data.

``explorer_db`` is the one place that decides which database the app tests read; point it
at the real dbt build once that exists.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "nafld"

FLAG_EVENTS = {
    "has_diabetes": "diabetes",
    "has_hypertension": "htn",
    "has_dyslipidemia": "dyslipidemia",
    "has_myocardial_infarction": "MI",
    "has_angina": "ang/isc",
    "has_atrial_fibrillation": "afib",
    "has_heart_failure": "heart failure",
    "has_stroke": "stroke",
    "has_cardiac_arrest": "cardiac arrest",
}


def _build(con: duckdb.DuckDBPyConnection, schema: str, persons: str, events: str) -> None:
    flags = ",\n".join(
        f"coalesce(bool_or(e.event = '{event}' and try_cast(e.days as integer) <= 0), false)"
        f" as {column}"
        for column, event in FLAG_EVENTS.items()
    )
    con.execute(f"create schema if not exists {schema}")
    con.execute(
        f"""
        create table {schema}.persons as
        with p as (
            select
                cast(id as bigint) as person_id,
                cast(age as integer) as age_years,
                case male when '1' then 'M' when '0' then 'F' end as sex,
                try_cast(height as double) as height_cm,
                try_cast(weight as double) as weight_kg,
                try_cast(bmi as double) as bmi_kg_m2,
                cast(try_cast("case.id" as double) as bigint) = cast(id as bigint)
                    as is_nafld_case,
                cast(futime as integer) as followup_days,
                status = '1' as is_dead
            from read_parquet('{persons}')
        ),
        f as (
            select cast(e.id as bigint) as person_id, {flags}
            from read_parquet('{events}') as e
            group by all
        )
        select
            p.person_id, p.age_years, p.sex, p.height_cm, p.weight_kg, p.bmi_kg_m2,
            cast(null as double) as hdl_mg_dl, cast(null as double) as chol_mg_dl,
            cast(null as integer) as sbp_mmhg, cast(null as integer) as dbp_mmhg,
            cast(null as double) as fib4_score, cast(null as boolean) as is_smoker,
            {", ".join(f"coalesce(f.{c}, false) as {c}" for c in FLAG_EVENTS)},
            p.is_nafld_case, p.followup_days, p.is_dead,
            case when hash(p.person_id) % 5 = 0 then 'holdout' else 'train' end as split
        from p left join f using (person_id)
        """
    )


@pytest.fixture(scope="session")
def explorer_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse with ``marts.persons`` (real data) and ``synthetic.persons`` (a stand-in)."""
    path = tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb"
    persons = DATA / "nafld1_persons.parquet"
    events = DATA / "nafld3_events_long.parquet"
    with duckdb.connect(str(path)) as con:
        _build(con, "marts", str(persons), str(events))
        # A stand-in for the generator's output: the real table shuffled column by column
        # would do, but a plain sample keeps the test fast and deterministic.
        con.execute("create schema synthetic")
        con.execute(
            "create table synthetic.persons as select * from marts.persons"
            " using sample 60 percent (reservoir, 7)"
        )
    return path


def write_config(tmp_path: Path, database: Path, k: int = 10) -> Path:
    """A copy of configs/nafld.yml that reads ``database`` and audits under ``tmp_path``."""
    raw = yaml.safe_load((ROOT / "configs" / "nafld.yml").read_text(encoding="utf-8"))
    raw["database"] = str(database)
    raw["run_dir"] = str(tmp_path / "run")
    raw.setdefault("privacy", {})["k"] = k
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.fixture(name="write_config")
def write_config_fixture():
    """The :func:`write_config` helper, for tests that need a configuration of their own."""
    return write_config


@pytest.fixture
def explorer_config(tmp_path: Path, explorer_db: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A configuration for one test: the shared warehouse, a fresh audit memory."""
    path = write_config(tmp_path, explorer_db)
    monkeypatch.setenv("SYNTH_CONFIG", str(path))
    return path

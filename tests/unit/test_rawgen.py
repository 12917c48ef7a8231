"""The seeded generator of raw NAFLD-shaped extracts (synth/rawgen.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from synth import rawgen


def _digests(folder: Path) -> dict[str, str]:
    return {
        table: hashlib.sha256((folder / f"{table}.parquet").read_bytes()).hexdigest()
        for table in rawgen.TABLES
    }


def test_same_seed_writes_the_same_files(tmp_path: Path) -> None:
    # Run: the same seed twice (at different thread counts), and another seed.
    rawgen.generate(tmp_path / "a", persons=500, seed=5, threads=1)
    rawgen.generate(tmp_path / "b", persons=500, seed=5, threads=2)
    rawgen.generate(tmp_path / "c", persons=500, seed=6)

    # Assert
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert (
        _digests(tmp_path / "a")["nafld2_labs_long"] != _digests(tmp_path / "c")["nafld2_labs_long"]
    )


def test_files_have_the_nafld_columns_as_text_and_its_mess(tmp_path: Path) -> None:
    # Run
    counts = rawgen.generate(tmp_path, persons=2_000, labs_per_person=20, seed=1)

    # Assert: the bundled extract's columns, all text; sizes as asked plus duplicates.
    con = duckdb.connect()
    try:
        for table in rawgen.TABLES:
            generated = con.execute(
                f"describe select * from '{tmp_path / table}.parquet'"
            ).fetchall()
            bundled = con.execute(f"describe select * from 'data/nafld/{table}.parquet'").fetchall()
            assert [(c[0], c[1]) for c in generated] == [(c[0], c[1]) for c in bundled]
            assert {c[1] for c in generated} == {"VARCHAR"}
        values = {
            v
            for (v,) in con.execute(
                f"select distinct value from '{tmp_path}/nafld2_labs_long.parquet'"
            ).fetchall()
        }
        copies = con.execute(
            f"""
            select count(*) filter (where h.value = c.value), count(*)
            from '{tmp_path}/nafld2_labs_long.parquet' as h
            join '{tmp_path}/nafld2_labs_long.parquet' as c
                on h.id = c.id and h.days = c.days
            where h.test = 'hdl' and c.test = 'chol'
            """
        ).fetchone()
        duplicates = con.execute(
            f"select count(*) - count(distinct (id, days, test, value)) "
            f"from '{tmp_path}/nafld2_labs_long.parquet'"
        ).fetchone()[0]
    finally:
        con.close()
    assert counts["nafld1_persons"] >= 2_000
    assert counts["nafld2_labs_long"] >= 40_000
    assert {"<5", ">10", "n/a", "5.4e-79", "-0.0", "999.0"} <= values
    # chol copies hdl, except where a row's own mess (a censored or unparseable value) hit.
    assert copies[1] > 0 and copies[0] > 0.95 * copies[1]
    assert duplicates > 0


def test_sizes_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="persons"):
        rawgen.generate(tmp_path, persons=0)

"""The DuckDB database of a dataset: connections, the runs table and atomic writes.

Every table, clean, synthetic or evaluated, lives in one DuckDB file per dataset:

- ``marts.persons`` (and the ``persons_train`` / ``persons_holdout`` views), built by dbt;
- ``synthetic.persons__<run_id>``, one table per sampling run, and the view
  ``synthetic.persons`` on the latest;
- ``meta.runs``, one row per run: configuration hash, seed, model path, timings;
- ``evaluation.*``, the metric tables.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from synth.errors import DataError, SynthError

log = logging.getLogger(__name__)

_RUNS_DDL = """
create schema if not exists meta;
create table if not exists meta.runs (
    run_id varchar primary key,
    dataset varchar not null,
    config_hash varchar not null,
    generator varchar not null,
    seed integer not null,
    status varchar not null,
    model_path varchar,
    n_train integer,
    n_synthetic integer,
    synthetic_table varchar,
    fit_seconds double,
    sample_seconds double,
    evaluate_seconds double,
    created_at timestamp not null,
    updated_at timestamp not null
);
"""


@contextmanager
def connect(database: Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the dataset's DuckDB file and close it afterwards.

    Args:
        database: Path of the DuckDB file.
        read_only: Open without write access (the explorer does).

    Raises:
        SynthError: The file is missing (read-only) or held by another process.
    """
    if read_only and not database.exists():
        raise SynthError(
            f"The database {database} does not exist yet; run "
            "`python -m synth prepare --config FILE` first."
        )
    database.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(database), read_only=read_only)
    except duckdb.IOException as exc:
        raise SynthError(
            f"Cannot open {database}: {exc}. Another process (the explorer, a DuckDB "
            "shell) may hold it; close that process and try again."
        ) from exc
    try:
        yield con
    finally:
        con.close()


def quote(identifier: str) -> str:
    """Quote one SQL identifier for DuckDB (doubling embedded quotes)."""
    return '"' + identifier.replace('"', '""') + '"'


def quote_table(name: str) -> str:
    """Quote a possibly schema-qualified table name such as ``marts.persons``."""
    return ".".join(quote(part) for part in name.split("."))


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique-enough run id such as ``20261204T153201_123456``."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S_%f")


def ensure_runs_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``meta.runs`` if it does not exist."""
    con.execute(_RUNS_DDL)


def record_run(con: duckdb.DuckDBPyConnection, run_id: str, **fields: Any) -> None:
    """Insert or update one row of ``meta.runs``; only the given fields change."""
    ensure_runs_table(con)
    now = datetime.now(UTC).replace(tzinfo=None)
    exists = con.execute("select 1 from meta.runs where run_id = ?", [run_id]).fetchone()
    if exists is None:
        fields = {"created_at": now, "updated_at": now, **fields}
        names = ["run_id", *fields]
        marks = ", ".join("?" for _ in names)
        con.execute(
            f"insert into meta.runs ({', '.join(names)}) values ({marks})",
            [run_id, *fields.values()],
        )
    else:
        fields = {**fields, "updated_at": now}
        sets = ", ".join(f"{name} = ?" for name in fields)
        con.execute(f"update meta.runs set {sets} where run_id = ?", [*fields.values(), run_id])


def _has_runs_table(con: duckdb.DuckDBPyConnection) -> bool:
    found = con.execute(
        "select 1 from information_schema.tables "
        "where table_schema = 'meta' and table_name = 'runs'"
    ).fetchone()
    return found is not None


def latest_run(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """The newest run, as a mapping, or None when there is none."""
    if not _has_runs_table(con):
        return None
    cur = con.execute("select * from meta.runs order by created_at desc, run_id desc limit 1")
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cur.description], row, strict=True))


def get_run(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, Any]:
    """One run by id, as a mapping; raises SynthError if there is none."""
    row = None
    if _has_runs_table(con):
        cur = con.execute("select * from meta.runs where run_id = ?", [run_id])
        row = cur.fetchone()
    if row is None:
        raise SynthError(f"No run {run_id!r} in meta.runs; `python -m synth fit` makes one.")
    return dict(zip([d[0] for d in cur.description], row, strict=True))


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    """The (name, type) pairs of a table or view, in order."""
    schema, _, name = table.rpartition(".")
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema or "main", name],
    ).fetchall()
    if not rows:
        raise SynthError(
            f"The table {table} does not exist in the database; run "
            "`python -m synth prepare --config FILE` first."
        )
    return [(r[0], r[1]) for r in rows]


def frame_to_arrow(frame: pd.DataFrame) -> pa.Table:
    """Convert a frame to Arrow so that every missing value (NaN, None, NA) is a null.

    DuckDB reads NaN in a float column as a NaN double, not as NULL; going through
    Arrow with ``from_pandas`` semantics makes a missing value SQL NULL on every path.
    """
    return pa.Table.from_pandas(frame, preserve_index=False)


_SAFE_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def write_synthetic_table(
    con: duckdb.DuckDBPyConnection,
    frame: pd.DataFrame,
    *,
    like: str,
    schema: str,
    name: str,
    latest_view: str,
) -> str:
    """Write a synthetic frame as a new table typed like the mart, atomically.

    The table and the view on the latest table are created in one transaction: a run
    that fails half way leaves every earlier table and the view as they were.

    Args:
        con: An open, writable connection.
        frame: The synthetic rows; must hold every column of ``like``.
        like: The table whose column names, order and types the new table takes.
        schema: Schema of the new table, e.g. ``synthetic``.
        name: Name of the new table, e.g. ``persons__<run_id>``.
        latest_view: Name of the view (in ``schema``) that points at the newest table.

    Returns:
        The qualified name of the new table.
    """
    for part in (schema, name, latest_view):
        if not _SAFE_NAME.match(part):
            raise SynthError(f"Refusing the table name {part!r}: use letters, digits and _.")
    columns = table_columns(con, like)
    missing = [c for c, _ in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"the synthetic rows lack the mart's columns {missing}; the generator and the "
            "configuration's mart.columns disagree",
            source=like,
        )
    arrow = frame_to_arrow(frame[[c for c, _ in columns]])
    select = ", ".join(f"cast({quote(c)} as {t}) as {quote(c)}" for c, t in columns)
    target = f"{quote(schema)}.{quote(name)}"
    con.register("_synthetic_rows", arrow)
    try:
        con.execute("begin transaction")
        con.execute(f"create schema if not exists {quote(schema)}")
        con.execute(f"create table {target} as select {select} from _synthetic_rows")
        con.execute(
            f"create or replace view {quote(schema)}.{quote(latest_view)} as select * from {target}"
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        con.unregister("_synthetic_rows")
    log.info("wrote %d synthetic rows to %s.%s", len(frame), schema, name)
    return f"{schema}.{name}"

"""Turn the shared raw exports into the bundled source tables under ``data/``.

The exports are copied, never cleaned: every value stays text exactly as exported (an
empty field becomes NULL), so the dbt staging models do all casting and cleaning.

* NHANES 2017-2018 arrives as one wide file of 198 columns. A survey really ships one
  table per component, so the file is split by the codebook's ``Source`` column into
  the tables of the survey's components (demographics, examination, laboratory,
  medical conditions, questionnaire), each keyed by ``SEQN``, with the columns renamed
  to their NHANES variable names (``BMXWT``, ``LBDHDD`` ...). A component table holds
  a row only for participants with at least one value in it, as NHANES files do. The
  codebook and its value labels travel along as two more tables.
* PBC arrives as two tables (baseline and visits); they are copied as they are.

Example:
    >>> from synth.sources import import_nhanes
    >>> counts = import_nhanes("/work/shared/data", "data/nhanes")  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)

#: NHANES component table for each codebook Source (the data file's name prefix).
NHANES_COMPONENTS = {
    "DEMO": "demographics",
    "BMX": "examination",
    "BPX": "examination",
    "DXX": "examination",
    "HDL": "laboratory",
    "TCHOL": "laboratory",
    "GHB": "laboratory",
    "PBCD": "laboratory",
    "MCQ": "medical_conditions",
    "DIQ": "medical_conditions",
}
#: Every other Source (DBQ, SMQ, DR1TOT ...) is a questionnaire or interview table.
NHANES_DEFAULT_COMPONENT = "questionnaire"
NHANES_PREFIX = "nhanes_2017_2018"
PBC_FILES = {"pbc_baseline": "pbc_baseline.csv", "pbcseq_visits": "pbcseq_visits.csv"}


def _read_text_csv(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> None:
    """Load a CSV with every column as text, keeping the file's column order."""
    con.execute(
        f'create or replace temp table "{name}" as '
        "select * from read_csv(?, header = true, all_varchar = true, "
        "sample_size = -1, quote = '\"', escape = '\"')",
        [str(path)],
    )


def _write_parquet(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> int:
    con.execute(f"copy ({query}) to '{path}' (format parquet, compression zstd)")
    return con.execute("select count(*) from read_parquet(?)", [str(path)]).fetchone()[0]


def import_nhanes(shared_dir: str | Path, out_dir: str | Path) -> dict[str, int]:
    """Split the wide NHANES export into one text Parquet file per survey component.

    Args:
        shared_dir: Folder holding ``nhanes_2017_2018.csv`` and its two codebook files.
        out_dir: Where the Parquet files go (``data/nhanes``).

    Returns:
        Rows written per table.
    """
    shared, out = Path(shared_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        _read_text_csv(con, shared / f"{NHANES_PREFIX}.csv", "wide")
        _read_text_csv(con, shared / f"{NHANES_PREFIX}_variables.csv", "variables")
        _read_text_csv(con, shared / f"{NHANES_PREFIX}_value_codes.csv", "value_codes")
        wide_columns = [r[0] for r in con.execute("describe wide").fetchall()]
        codebook = con.execute(
            "select VariableNameLong, Variable, Source from variables"
        ).fetchall()
        tables: dict[str, list[tuple[str, str]]] = {}
        for long_name, variable, source in codebook:
            if long_name not in wide_columns:
                raise ValueError(f"codebook names {long_name}, which the NHANES file lacks")
            component = NHANES_COMPONENTS.get(source, NHANES_DEFAULT_COMPONENT)
            tables.setdefault(component, []).append((long_name, variable))
        counts = {}
        for component, columns in sorted(tables.items()):
            select = ", ".join(f'"{long}" as "{var}"' for long, var in columns)
            any_value = " or ".join(f'"{long}" is not null' for long, _ in columns)
            query = f'select "SEQN" as "SEQN", {select} from wide where {any_value}'
            name = f"nhanes_{component}"
            counts[name] = _write_parquet(con, query, out / f"{name}.parquet")
        counts["nhanes_variables"] = _write_parquet(
            con,
            "select Variable, Source, VariableNameLong, SASLabel, EnglishText, Target, "
            "Recoded from variables",
            out / "nhanes_variables.parquet",
        )
        counts["nhanes_value_codes"] = _write_parquet(
            con, "select * from value_codes", out / "nhanes_value_codes.parquet"
        )
    finally:
        con.close()
    for name, n in counts.items():
        log.info("nhanes: %s %d rows", name, n)
    return counts


def import_pbc(shared_dir: str | Path, out_dir: str | Path) -> dict[str, int]:
    """Copy the two PBC tables to text Parquet files.

    Args:
        shared_dir: Folder holding ``pbc_baseline.csv`` and ``pbcseq_visits.csv``.
        out_dir: Where the Parquet files go (``data/pbc``).

    Returns:
        Rows written per table.
    """
    shared, out = Path(shared_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    counts = {}
    try:
        for name, file in PBC_FILES.items():
            _read_text_csv(con, shared / file, name)
            counts[name] = _write_parquet(con, f'select * from "{name}"', out / f"{name}.parquet")
    finally:
        con.close()
    return counts


def main() -> None:
    """Command line: ``python -m synth.sources nhanes|pbc SHARED_DIR OUT_DIR``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", choices=["nhanes", "pbc"])
    parser.add_argument("shared_dir")
    parser.add_argument("out_dir")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    importer = import_nhanes if args.dataset == "nhanes" else import_pbc
    importer(args.shared_dir, args.out_dir)


if __name__ == "__main__":
    main()

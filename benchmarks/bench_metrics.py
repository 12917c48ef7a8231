"""Time the evaluation metrics on a pair of 50,000 x 40 tables plus a 50,000-row holdout.

The tables are resampled from the NHANES 2017-2018 file (20 numeric and 20 categorical
columns). Persons are split in two halves: the training table resamples one half, the
holdout the other, and the synthetic table resamples the training half again; every
resampled row gets fresh noise on its numbers (5% of the column's spread) and 5% of its
categories redrawn, so that no table is a plain copy of another.

Run:  PYTHONPATH=. .venv/bin/python benchmarks/bench_metrics.py [--rows 50000]
      [--holdout-rows N] [--dcr-rows N] [--source PATH] [--shuffle-columns] [--export DIR]
      [--repeats 3]

Resampled rows have close relatives in the training table (as a generator's output
usually has), which is what the exact-key stage of the distance search exploits.
``--shuffle-columns`` shuffles each synthetic column on its own instead: every
association is gone and synthetic rows are far from all real rows, the hard case for an
exact nearest-record search.

Each stage (column, pair, privacy metrics, and the distances to closest records within
the privacy stage) logs its own time. First, the part that SDMetrics' quality report
also computes (reading the two tables, the column and pair metrics) is timed on its own,
``--repeats`` times.

``--export DIR`` also writes the real and synthetic tables as CSV with SDMetrics
metadata, for ``benchmarks/sdmetrics_quality.py`` (SDMetrics' quality report on the same
pair, run in a throwaway environment: see that file).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from synth import metrics
from synth.schema import ColumnSpec

NHANES = Path("/work/shared/data/nhanes_2017_2018.csv")
NUMERIC = [
    "SystolicBloodPres1StRdgMmHg",
    "DiastolicBloodPres1StRdgMmHg",
    "60SecPulse30SecPulse2",
    "EnergyKcal_DR1TOT",
    "ProteinGm_DR1TOT",
    "CarbohydrateGm_DR1TOT",
    "TotalSugarsGm_DR1TOT",
    "DietaryFiberGm_DR1TOT",
    "TotalFatGm_DR1TOT",
    "CholesterolMg_DR1TOT",
    "WeightKg",
    "StandingHeightCm",
    "BodyMassIndexKgm2",
    "WaistCircumferenceCm",
    "DirectHdlcholesterolMgdl",
    "TotalCholesterolMgdl",
    "BloodLeadUgdl",
    "AgeInYearsAtScreening",
    "RatioOfFamilyIncomeToPoverty",
    "Glycohemoglobin",
]
CATEGORICAL = [
    "GeneralHealthCondition",
    "HowHealthyIsTheDiet",
    "Gender",
    "RacehispanicOriginWNhAsian",
    "EducationLevelAdults20",
    "MaritalStatus",
    "TotalNumberOfPeopleInTheHousehold",
    "AnnualHouseholdIncome",
    "CoveredByHealthInsurance",
    "HowOftenDoYouSnore",
    "DoctorToldYouHaveDiabetes",
    "SmokedAtLeast100CigarettesInLife",
    "EverBeenToldYouHaveAsthma",
    "DoctorEverSaidYouHadArthritis",
    "VigorousRecreationalActivities",
    "ModerateRecreationalActivities",
    "WalkOrBicycle",
    "HaveSeriousDifficultyWalking",
    "OnSpecialDiet",
    "TriedToLoseWeightInPastYear",
]

log = logging.getLogger("bench_metrics")


def _resample(base: pd.DataFrame, n_rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """Draw rows with replacement, add noise to numbers and redraw some categories."""
    out = base.iloc[rng.integers(0, len(base), n_rows)].reset_index(drop=True)
    for name in NUMERIC:
        values = out[name].to_numpy(dtype="float64", na_value=np.nan)
        spread = np.nanstd(base[name].to_numpy(dtype="float64", na_value=np.nan))
        out[name] = np.round(values + rng.normal(0.0, 0.05 * spread, n_rows), 2)
    for name in CATEGORICAL:
        redraw = rng.random(n_rows) < 0.05
        levels = base[name].dropna().unique()
        column = out[name].astype("object")
        column[redraw] = rng.choice(levels, int(redraw.sum()))
        out[name] = column
    return out


def build_tables(
    con: duckdb.DuckDBPyConnection,
    n_rows: int = 50_000,
    seed: int = 7,
    source: Path = NHANES,
    shuffle_columns: bool = False,
) -> list[ColumnSpec]:
    """Create tables bench_real, bench_synthetic and bench_holdout; return their columns."""
    rng = np.random.default_rng(seed)
    people = con.execute("select * from read_csv(?, sample_size = -1)", [str(source)]).df()[
        ["SEQN", *NUMERIC, *CATEGORICAL]
    ]
    for name in CATEGORICAL:
        people[name] = people[name].astype("string").astype("object")
    order = rng.permutation(len(people))
    half = len(people) // 2
    train_base = people.iloc[order[:half]]
    holdout_base = people.iloc[order[half:]]
    tables = {
        "bench_real": _resample(train_base, n_rows, rng),
        "bench_holdout": _resample(holdout_base, n_rows, rng),
        "bench_synthetic": _resample(train_base, n_rows, rng),
    }
    if shuffle_columns:
        synthetic = tables["bench_synthetic"]
        for name in [*NUMERIC, *CATEGORICAL]:
            synthetic[name] = synthetic[name].to_numpy()[rng.permutation(n_rows)]
    for offset, (table, frame) in enumerate(tables.items()):
        frame["SEQN"] = np.arange(n_rows) + offset * 10 * n_rows
        metrics.write_frame(con, table, frame)
    return [
        ColumnSpec("SEQN", "numeric", role="identifier"),
        *(ColumnSpec(name, "numeric") for name in NUMERIC),
        *(ColumnSpec(name, "categorical") for name in CATEGORICAL),
    ]


def export(con: duckdb.DuckDBPyConnection, columns: list[ColumnSpec], folder: Path) -> None:
    """Write bench_real and bench_synthetic as CSV, with SDMetrics single-table metadata."""
    folder.mkdir(parents=True, exist_ok=True)
    for table in ("bench_real", "bench_synthetic"):
        con.execute(f"copy {table} to '{folder / table}.csv' (header)")
    sdtypes = {"identifier": "id", "numeric": "numerical", "categorical": "categorical"}
    metadata = {
        "primary_key": "SEQN",
        "columns": {
            spec.name: {"sdtype": sdtypes["identifier" if spec.is_identifier else spec.kind]}
            for spec in columns
        },
    }
    (folder / "metadata.json").write_text(json.dumps(metadata, indent=2))
    log.info("wrote the pair and its metadata to %s", folder)


def quality_seconds(con: duckdb.DuckDBPyConnection, columns: list[ColumnSpec]) -> float:
    """Seconds for what SDMetrics' quality report computes, as ``metrics.evaluate`` does it.

    Reading the real and synthetic tables from DuckDB, then every column metric (a
    superset of Column Shapes) and every pair metric (Column Pair Trends).
    """
    features = [spec for spec in columns if not spec.is_identifier]
    started = time.perf_counter()
    real, synthetic = metrics._fetch_tables(con, ["bench_real", "bench_synthetic"], features)
    metrics._column_metrics(real, synthetic, features)
    metrics._pair_metrics(real, synthetic, features)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="rows per table")
    parser.add_argument("--holdout-rows", type=int, default=None, help="rows of the holdout")
    parser.add_argument("--source", type=Path, default=NHANES, help="NHANES 2017-2018 CSV")
    parser.add_argument(
        "--dcr-rows", type=int, default=None, help="seeded sample of synthetic rows for DCR"
    )
    parser.add_argument(
        "--shuffle-columns", action="store_true", help="shuffle each synthetic column alone"
    )
    parser.add_argument("--export", type=Path, help="write the pair as CSV for SDMetrics here")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timings of the quality-report part (median)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    con = duckdb.connect()
    started = time.perf_counter()
    columns = build_tables(con, args.rows, source=args.source, shuffle_columns=args.shuffle_columns)
    if args.holdout_rows is not None:
        con.execute(
            "create or replace table bench_holdout as from bench_holdout limit ?",
            [args.holdout_rows],
        )
    log.info(
        "built 3 tables of %d x %d in %.1f s",
        args.rows,
        len(columns) - 1,
        time.perf_counter() - started,
    )
    if args.export is not None:
        export(con, columns, args.export)
    quality = sorted(quality_seconds(con, columns) for _ in range(args.repeats))
    log.info(
        "quality-report part (read real and synthetic, column and pair metrics): "
        "median %.2f s of %d (%s)",
        quality[len(quality) // 2],
        len(quality),
        ", ".join(f"{seconds:.2f}" for seconds in quality),
    )
    started = time.perf_counter()
    summary = metrics.evaluate(
        con,
        real="bench_real",
        synthetic="bench_synthetic",
        holdout="bench_holdout",
        columns=columns,
        run_id="bench",
        dcr_rows=args.dcr_rows,
    )
    log.info("total %.1f s: %s", time.perf_counter() - started, summary.as_line())
    con.close()


if __name__ == "__main__":
    main()

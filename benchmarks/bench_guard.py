"""Guarded cohort queries on a 1M-person mart: p50 / p95 milliseconds per query.

Builds ``marts.persons`` with the NAFLD columns in an in-memory DuckDB from a seeded SQL
generator (ages from a clipped normal, sex with a few blanks, diagnosis flags whose rates
rise with age, BMI from a log-normal), then runs a mix of cohort questions through the
explorer's query layer and one guard whose memory grows as it answers (levels, coarsening,
suppression, complementary suppression and the differencing memory all included).

Run: ``.venv/bin/python benchmarks/bench_guard.py [--persons 1000000] [--queries 200]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import queries as q
from app.guard import Guard
from synth.config import load_config

log = logging.getLogger("bench_guard")

FLAGS = {  # flag: (base rate at 40, extra rate per year of age)
    "has_diabetes": (0.08, 0.003),
    "has_hypertension": (0.20, 0.006),
    "has_dyslipidemia": (0.15, 0.004),
    "has_myocardial_infarction": (0.02, 0.001),
    "has_angina": (0.02, 0.001),
    "has_atrial_fibrillation": (0.01, 0.001),
    "has_heart_failure": (0.01, 0.0008),
    "has_stroke": (0.01, 0.0007),
    "has_cardiac_arrest": (0.002, 0.0001),
    "is_nafld_case": (0.25, 0.0),
}


def build(con: duckdb.DuckDBPyConnection, persons: int, seed: int) -> None:
    con.execute("select setseed(?)", [seed / 1000])
    flags = ",\n".join(
        f"random() < {base} + {slope} * greatest(age_years - 40, 0) as {name}"
        for name, (base, slope) in FLAGS.items()
    )
    con.execute("create schema marts")
    con.execute(
        f"""
        create table marts.persons as
        with base as (
            select
                i as person_id,
                case when random() < 0.002 then null
                     else least(100, greatest(18, cast(52 + 15 * sqrt(-2 * ln(random()))
                          * cos(2 * pi() * random()) as integer))) end as age_years,
                case when random() < 0.01 then null when random() < 0.52 then 'F' else 'M' end
                    as sex,
                round(exp(3.35 + 0.18 * sqrt(-2 * ln(random())) * cos(2 * pi() * random())), 2)
                    as bmi_kg_m2
            from range(?) as r(i)
        )
        select *, {flags} from base
        """,
        [persons],
    )


def questions(
    cols: q.Columns, rng: random.Random, n: int
) -> list[tuple[q.Filters, str, str | None]]:
    out = []
    for _ in range(n):
        flags = tuple(rng.sample(cols.flags, rng.choice([0, 1, 1, 2, 2, 3])))
        low = rng.choice([None, None, 30, 40, 50, 60, 65, 70, 80])
        high = rng.choice([None, None, 59, 69, 79, 89]) if low is None or low < 59 else None
        sexes = rng.choice([None, None, ("F",), ("M",)])
        thresholds = (cols.thresholds[0].key,) if cols.thresholds and rng.random() < 0.3 else ()
        filters = q.Filters(sexes, low, high, flags, thresholds=thresholds)
        row, col = rng.choice([("age_years", "sex"), ("age_years", "sex"), ("sex", None)])
        out.append((filters, row, col))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("app").setLevel(logging.WARNING)

    cfg = load_config("configs/nafld.yml")
    cols = q.columns_from_config(cfg)
    con = duckdb.connect()
    started = time.perf_counter()
    build(con, args.persons, args.seed)
    log.info("built %d persons in %.1f s", args.persons, time.perf_counter() - started)
    values = {c: q.distinct_values(con, "marts.persons", c) for c in ("age_years", "sex")}
    guard = Guard(k=cfg.privacy.k, scope="bench")
    rng = random.Random(args.seed)
    db_ms, guard_ms, total_ms = [], [], []
    for filters, row, col in questions(cols, rng, args.queries):
        t0 = time.perf_counter()
        counts = q.count_by(con, "marts.persons", cols, filters, row, col)
        t1 = time.perf_counter()
        levels = q.levels_by(
            counts, values[row], values[col] if col else (None,), filters, cols, row, col, 10
        )
        guard.release_table(levels)
        t2 = time.perf_counter()
        db_ms.append((t1 - t0) * 1000)
        guard_ms.append((t2 - t1) * 1000)
        total_ms.append((t2 - t0) * 1000)

    def pct(xs: list[float], p: float) -> float:
        return statistics.quantiles(xs, n=100)[int(p) - 1]

    remembered = guard.log.size("bench")
    log.info("queries: %d, remembered counts at the end: %d", len(total_ms), remembered)
    for name, xs in (("database", db_ms), ("guard", guard_ms), ("total", total_ms)):
        log.info("%-8s p50 %7.1f ms   p95 %7.1f ms", name, pct(xs, 50), pct(xs, 95))
    last = total_ms[len(total_ms) // 2 :]
    log.info("second half (larger memory): p50 %.1f ms, p95 %.1f ms", pct(last, 50), pct(last, 95))
    log.info("load average (1, 5, 15 min): %.2f %.2f %.2f", *os.getloadavg())


if __name__ == "__main__":
    main()

"""Real persons from the bundled NAFLD file, cast from text, for tests of the evaluation."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

PERSONS = Path(__file__).resolve().parents[1] / "data" / "nafld" / "nafld1_persons.parquet"


def load_persons(n: int, seed: int = 0) -> pd.DataFrame:
    """n real persons of the bundled NAFLD file, cast from text, in random order."""
    con = duckdb.connect()
    try:
        frame = con.execute(
            """
            select
                cast(id as bigint) as person_id,
                cast(age as integer) as age_years,
                case male when '1' then 'M' when '0' then 'F' end as sex,
                try_cast(weight as double) as weight_kg,
                try_cast(height as double) as height_cm,
                try_cast(bmi as double) as bmi_kg_m2,
                cast(futime as integer) as followup_days,
                status = '1' as is_dead
            from read_parquet(?)
            """,
            [str(PERSONS)],
        ).df()
    finally:
        con.close()
    return frame.sample(n, random_state=seed).reset_index(drop=True)

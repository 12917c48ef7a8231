"""Fit / sample timing and a per-column fidelity check of the generators on a NAFLD stand-in.

The stand-in mimics the mart (one row per person, ~23 modelled columns): persons, the
first value of each lab test, and one flag per diagnosis, from data/nafld. Run:

    .venv/bin/python benchmarks/bench_generator.py [--rows 14000] [--profile default] [--copula]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from synth.schema import ColumnSpec
from synth.tabsyn import TabSyn, TabSynConfig

DATA = Path(__file__).resolve().parents[1] / "data" / "nafld"


def stand_in(rows: int, seed: int = 0) -> tuple[pd.DataFrame, list[ColumnSpec]]:
    persons = pd.read_parquet(DATA / "nafld1_persons.parquet")
    frame = pd.DataFrame({"person_id": persons["id"].astype("int64")})
    frame["age_years"] = pd.to_numeric(persons["age"]).astype("Int64")
    frame["sex"] = persons["male"].map({"1": "M", "0": "F"}).astype("str")
    frame["height_cm"] = pd.to_numeric(persons["height"]).round(1)
    frame["weight_kg"] = pd.to_numeric(persons["weight"]).round(1)
    frame["bmi_kg_m2"] = pd.to_numeric(persons["bmi"]).round(2)
    frame["followup_days"] = pd.to_numeric(persons["futime"]).astype("Int64")
    frame["is_dead"] = persons["status"] == "1"
    labs = pd.read_parquet(DATA / "nafld2_labs_long.parquet")
    labs["id"] = labs["id"].astype("int64")
    labs["value"] = pd.to_numeric(labs["value"], errors="coerce")
    first = labs.sort_values("days").groupby(["id", "test"])["value"].first().unstack()
    for test, name, digits in [
        ("hdl", "hdl_mg_dl", 1),
        ("sbp", "sbp_mmhg", 0),
        ("fib4", "fib4_score", 3),
        ("smoke", "smoke_code", 0),
    ]:
        frame[name] = frame["person_id"].map(first[test]).round(digits)
    frame["sbp_mmhg"] = frame["sbp_mmhg"].astype("Int64")
    frame["is_smoker"] = frame.pop("smoke_code").map({0.0: False, 1.0: True, 2.0: True})
    frame["is_smoker"] = frame["is_smoker"].astype(object).where(frame["is_smoker"].notna(), None)
    events = pd.read_parquet(DATA / "nafld3_events_long.parquet")
    events["id"] = events["id"].astype("int64")
    for event in sorted(events["event"].unique()):
        ids = set(events.loc[events["event"] == event, "id"])
        name = "has_" + event.lower().replace(" ", "_").replace("/", "_")
        frame[name] = frame["person_id"].isin(ids)
    frame = frame.sample(n=min(rows, len(frame)), random_state=seed).reset_index(drop=True)
    specs = [ColumnSpec("person_id", "numeric", role="identifier", integer=True)]
    for name in frame.columns[1:]:
        if frame[name].dtype == bool or name in ("sex", "is_smoker"):
            specs.append(ColumnSpec(name, "categorical"))
        else:
            specs.append(ColumnSpec(name, "numeric", lower=0))
    return frame, specs


def fidelity(real: pd.DataFrame, synth: pd.DataFrame) -> dict[str, float]:
    """Per column: KS complement (numbers, observed values) or TV complement; missing gap."""
    scores = {}
    for name in synth.columns:
        r, s = real[name], synth[name]
        gap = abs(r.isna().mean() - s.isna().mean())
        if pd.api.types.is_numeric_dtype(r.dtype) and not pd.api.types.is_bool_dtype(r.dtype):
            a = np.sort(r.dropna().to_numpy(float))
            b = np.sort(s.dropna().to_numpy(float))
            grid = np.concatenate([a, b])
            ks = np.abs(
                np.searchsorted(a, grid, "right") / len(a)
                - np.searchsorted(b, grid, "right") / max(1, len(b))
            ).max()
            scores[name] = (round(1 - ks, 3), round(gap, 3))
        else:
            p = r.astype(str).value_counts(normalize=True)
            q = s.astype(str).value_counts(normalize=True)
            tv = 0.5 * p.sub(q, fill_value=0).abs().sum()
            scores[name] = (round(1 - tv, 3), round(gap, 3))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=14000)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--copula", action="store_true")
    parser.add_argument("--set", default="{}", help="JSON overrides of the generator section")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    frame, specs = stand_in(args.rows)
    if args.copula:
        from synth.copula import GaussianCopula

        model = GaussianCopula(seed=0)
    else:
        model = TabSyn(TabSynConfig.from_dict({"profile": args.profile, **json.loads(args.set)}))
    start = time.perf_counter()
    model.fit(frame, specs)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    synthetic = model.sample(len(frame), seed=1)
    sample_seconds = time.perf_counter() - start
    scores = fidelity(frame, synthetic)
    shape = np.mean([v[0] for v in scores.values()])
    report = {k: v for k, v in model.fit_report.items() if k in ("vae", "diffusion", "device")}
    print(json.dumps(report, indent=1, default=str))
    print(f"fit {fit_seconds:.1f}s, sample {len(frame) / sample_seconds:.0f} rows/s")
    for name, (score, gap) in scores.items():
        print(f"  {name:28s} shape {score:.3f}  missing-rate gap {gap:.3f}")
    print(f"mean shape score {shape:.3f}")


if __name__ == "__main__":
    main()

"""Time SDMetrics' quality report on the pair that bench_metrics.py exports.

SDMetrics 0.32 pins pandas below 3, which the project does not, so it runs in a
throwaway environment of its own:

    python3 -m venv /tmp/sdm && /tmp/sdm/bin/pip install sdmetrics==0.32.0
    PYTHONPATH=. .venv/bin/python benchmarks/bench_metrics.py --export /tmp/bench_pair
    /tmp/sdm/bin/python benchmarks/sdmetrics_quality.py /tmp/bench_pair

The categorical columns are read as text, as the project reads them. Prints the time
of ``QualityReport.generate`` and its two property scores (Column Shapes, Column Pair
Trends), to compare with bench_metrics.py's column and pair stages.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
import sdmetrics
from sdmetrics.reports.single_table import QualityReport


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the folder bench_metrics.py --export wrote")
    args = parser.parse_args()
    metadata = json.loads((args.folder / "metadata.json").read_text())
    text = [n for n, c in metadata["columns"].items() if c["sdtype"] == "categorical"]
    real, synthetic = (
        pd.read_csv(args.folder / f"{table}.csv", dtype={name: "object" for name in text})
        for table in ("bench_real", "bench_synthetic")
    )
    report = QualityReport()
    started = time.perf_counter()
    report.generate(real, synthetic, metadata, verbose=False)
    seconds = time.perf_counter() - started
    scores = report.get_properties().set_index("Property")["Score"].round(4).to_dict()
    print(f"SDMetrics {sdmetrics.__version__} quality report: {seconds:.1f} s {scores}")


if __name__ == "__main__":
    main()

"""Shared fixtures: a small slice of the real NAFLD cohort, built by the real dbt project."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from synth.config import DatasetConfig, load_config

REPO = Path(__file__).resolve().parents[1]
NAFLD_DIR = REPO / "data" / "nafld"
SLICE_PERSONS = 1200
# A real but seconds-long training run: the fast profile with few epochs.
TINY_GENERATOR = {
    "seed": 3,
    "profile": "fast",
    "vae": {"epochs": 8, "batch_size": 128},
    "diffusion": {"epochs": 10, "batch_size": 128},
}


def write_nafld_slice(target: Path, persons: int = SLICE_PERSONS) -> None:
    """Copy the first `persons` persons of the bundled NAFLD files, with their labs and events."""
    target.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute(
            "create temp table ids as select id from read_parquet(?) limit ?",
            [str(NAFLD_DIR / "nafld1_persons.parquet"), persons],
        )
        for name in ("nafld1_persons", "nafld2_labs_long", "nafld3_events_long"):
            src = str(NAFLD_DIR / f"{name}.parquet")
            dst = str(target / f"{name}.parquet")
            con.execute(
                f"copy (select * from read_parquet('{src}') where id in (select id from ids)) "
                f"to '{dst}' (format parquet)"
            )
    finally:
        con.close()


def write_config(path: Path, **overrides: object) -> Path:
    """Write a copy of configs/nafld.yml with top-level keys replaced."""
    raw = yaml.safe_load((REPO / "configs" / "nafld.yml").read_text())
    raw.update(overrides)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def nafld_slice_config(tmp_path_factory: pytest.TempPathFactory) -> DatasetConfig:
    """A configuration over a 1,200-person slice of the real cohort, with a fast generator."""
    root = tmp_path_factory.mktemp("nafld_slice")
    write_nafld_slice(root / "data")
    path = write_config(
        root / "nafld_slice.yml",
        sources={
            "dir": str(root / "data"),
            "tables": ["nafld1_persons", "nafld2_labs_long", "nafld3_events_long"],
        },
        run_dir=str(root / "run"),
        database=str(root / "run" / "warehouse.duckdb"),
        generator=TINY_GENERATOR,
        evaluation={"bootstrap": 20},
    )
    return load_config(path)


@pytest.fixture(scope="session")
def built_warehouse(nafld_slice_config: DatasetConfig) -> DatasetConfig:
    """The slice, built by the real `dbt build` into its own DuckDB file."""
    from synth import pipeline

    pipeline.prepare(nafld_slice_config)
    return nafld_slice_config


@pytest.fixture
def warehouse_copy(built_warehouse: DatasetConfig, tmp_path: Path) -> DatasetConfig:
    """A private copy of the built database, for tests that write to it."""
    db = tmp_path / "warehouse.duckdb"
    shutil.copy(built_warehouse.database, db)
    path = write_config(
        tmp_path / "cfg.yml",
        sources={"dir": str(built_warehouse.source_dir), "tables": built_warehouse.source_tables},
        run_dir=str(tmp_path / "run"),
        database=str(db),
        generator=TINY_GENERATOR,
        evaluation={"bootstrap": 20},
    )
    return load_config(path)

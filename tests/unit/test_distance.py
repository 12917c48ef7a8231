"""The exact search of synth.distance against brute force and against the SQL macro."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from synth import distance, metrics
from synth.schema import ColumnSpec

SPECS = [
    ColumnSpec("x", "numeric"),
    ColumnSpec("y", "numeric"),
    ColumnSpec("flat", "numeric"),
    ColumnSpec("day", "date"),
    ColumnSpec("c", "categorical"),
    ColumnSpec("d", "categorical"),
    ColumnSpec("person_id", "numeric", role="identifier"),
]


def _table(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    """Coarse values (many ties), blanks everywhere, a constant column, out-of-range rows."""
    x = np.round(rng.normal(0, 1, n), 1) + shift
    x[rng.random(n) < 0.2] = np.nan
    y = rng.integers(0, 4, n).astype(float)
    y[rng.random(n) < 0.1] = np.nan
    flat = np.where(rng.random(n) < 0.3, np.nan, 2.0)
    day = rng.integers(0, 30, n).astype(float) * 86400.0
    return pd.DataFrame(
        {
            "x": x,
            "y": y,
            "flat": flat,
            "day": day,
            "c": rng.choice(np.array(["a", "b", "c", None], dtype=object), n),
            "d": rng.choice(np.array(["u", "v"], dtype=object), n),
            "person_id": np.arange(n, dtype=float),
        }
    )


def _brute(space: distance.DistanceSpace, rows, reference) -> np.ndarray:
    n, m = len(rows), len(reference)
    i, j = np.repeat(np.arange(n), m), np.tile(np.arange(m), n)
    return space.exact(rows, reference, i, j).reshape(n, m)


@pytest.fixture(
    params=[(16, 32, 1), (1024, 1024, 1), (16, 32, 3)],
    ids=["small-blocks", "default-blocks", "small-blocks-3-workers"],
)
def blocks(request, monkeypatch):
    monkeypatch.setattr(distance, "BLOCK_ROWS", request.param[0])
    monkeypatch.setattr(distance, "QUERY_ROWS", request.param[1])
    monkeypatch.setattr(distance, "WORKERS", request.param[2])
    monkeypatch.setattr(distance, "PARALLEL_ROWS", 1)


@pytest.fixture(
    params=[(0, 512, 0.2), (64, 512, 0.2), (10**6, 512, 0.2), (10**6, 8, 0.2), (10**6, 8, 1.01)],
    ids=["no-keys", "some-rows-keyed", "all-rows-keyed", "sample-first", "sample-then-blocks"],
)
def key_budget(request, monkeypatch):
    """The key stage idle, settling some or all rows; a sample first, kept or given up."""
    budget, probe_rows, min_settled = request.param
    monkeypatch.setattr(distance, "KEY_PAIRS_PER_ROW", budget)
    monkeypatch.setattr(distance, "KEY_PROBE_ROWS", probe_rows)
    monkeypatch.setattr(distance, "KEY_MIN_SETTLED", min_settled)
    monkeypatch.setattr(distance, "PAIR_CHUNK", 64)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.usefixtures("blocks", "key_budget")
def test_nearest_and_within_match_brute_force(seed):
    # Setup: rows partly shifted out of the reference range; capped or clipped.
    rng = np.random.default_rng(seed)
    rows = _table(rng, int(rng.integers(1, 400)), shift=1.5 if seed % 3 == 0 else 0.0)
    reference = _table(rng, int(rng.integers(1, 500)))
    space = distance.DistanceSpace(SPECS, scale_from=reference, clip=seed % 2 == 1)
    encoded_rows, encoded_ref = space.encode(rows), space.encode(reference)
    full = _brute(space, encoded_rows, encoded_ref)
    k = min(3, len(reference))

    # Run
    found, index = distance.nearest(space, encoded_rows, encoded_ref, k)
    limit = np.sort(full, axis=1)[:, 0] * rng.choice([0.5, 1.0], len(rows))
    inside = distance.within(space, encoded_rows, encoded_ref, limit)

    # Assert: the same distances bit for bit, ties to the lower row number.
    expected_index = np.argsort(full, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(found, np.take_along_axis(full, expected_index, axis=1))
    np.testing.assert_array_equal(index, expected_index)
    np.testing.assert_array_equal(inside, (full <= limit[:, None]).any(axis=1))


def test_exact_terms_follow_the_definition():
    specs = [ColumnSpec("x", "numeric"), ColumnSpec("c", "categorical")]
    reference = pd.DataFrame({"x": [0.0, 10.0, np.nan], "c": ["a", "b", None]})
    rows = pd.DataFrame({"x": [25.0, 5.0, np.nan, np.nan], "c": ["a", None, None, "b"]})
    space = distance.DistanceSpace(specs, scale_from=reference)
    found, index = distance.nearest(space, space.encode(rows), space.encode(reference), k=3)
    # 25 is 2.5 ranges from 0 (capped at 1), 1.5 from 10 (capped), missing against it 1.
    np.testing.assert_allclose(found[0], [0.5, 1.0, 1.0])
    np.testing.assert_array_equal(index[0], [0, 1, 2])
    # 5 against 0 or 10: 0.5 plus a missing category against a value: 1.
    np.testing.assert_allclose(found[1], [0.5, 0.75, 0.75])
    # Missing against missing is 0.
    assert found[2][0] == 0.0
    assert index[2][0] == 2


def test_search_agrees_with_the_sql_macro():
    # Setup
    rng = np.random.default_rng(3)
    con = duckdb.connect()
    metrics.load_macros(con)
    synthetic, reference = _table(rng, 150, shift=0.7), _table(rng, 200)
    for name, frame in (("s", synthetic), ("r", reference)):
        metrics.write_frame(con, name, frame)
    # Dates arrive as epoch seconds; in the macro they are plain numbers here.
    features = [
        ColumnSpec(spec.name, "numeric") if spec.kind == "date" else spec
        for spec in SPECS
        if not spec.is_identifier
    ]

    # Run
    by_sql = con.execute(
        "select dcr from dcr('s', 'r', 'r', ?, ?) order by synthetic_row",
        [[s.name for s in features], [s.kind for s in features]],
    ).fetchall()
    ours = metrics.nearest_distances(synthetic, reference, features)[:, 0]
    con.close()

    # Assert
    np.testing.assert_allclose(ours, [row[0] for row in by_sql], rtol=0, atol=1e-12)


def test_space_without_columns_is_an_error():
    with pytest.raises(Exception, match="every column is an identifier"):
        distance.DistanceSpace([SPECS[-1]], scale_from=pd.DataFrame({"person_id": [1.0]}))

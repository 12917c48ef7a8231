"""An auditor that works out what an attacker can derive from every count released together.

Written apart from the guard: it knows only what each released number *means* (the set of
people a cohort selects, read from the cohort's values) and does linear programming over
the atoms those sets cut the attribute domain into, as a statistical office's auditor
would. It shares no code with the guard's memory, packing or family checks.

For each *target* group (every atom, and for every pair of released cohorts A and B:
A minus B, B minus A, A and B), whose true size is 1..k-1, it asks the LP for the
smallest and largest size consistent with everything released (sizes are non-negative).
A breach is a target whose size is pinned (largest - smallest < 1): the attacker then
knows a group of 1..k-1 people exactly.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from app.guard import Cohort


def member(cohort: Cohort, person: dict) -> bool:
    """True when ``person`` is in ``cohort``: each constrained column holds an allowed value."""
    for column, values in cohort.items:
        inside = person.get(column) in values.values
        if inside == values.complement:
            return False
    return True


@dataclass
class Breach:
    """A group of 1..k-1 people whose size the released counts pin down."""

    what: str
    size: int
    low: float
    high: float


def audit(
    released: Sequence[tuple[Cohort, int]],
    domain: Sequence[dict],
    population: Sequence[dict],
    k: int,
    derived: Callable[[dict], dict] | None = None,
) -> list[Breach]:
    """Every group of 1..k-1 people an attacker can pin from ``released``.

    Args:
        released: Every (cohort, count) shown, across all answers.
        domain: Every combination of attribute values a person could have.
        population: The people (each one of the domain's combinations).
        k: The threshold.
        derived: Adds derived attributes (threshold keys, diagnosis nodes) to a person.
    """
    facts = list(dict(released).items())
    if not facts:
        return []
    enrich = derived or (lambda p: p)
    points = [enrich(dict(p)) for p in domain]
    signature = [tuple(member(c, p) for c, _ in facts) for p in points]
    atoms = sorted(set(signature))
    index = {s: n for n, s in enumerate(atoms)}
    truth = np.zeros(len(atoms))
    for person in population:
        sig = tuple(member(c, enrich(dict(person))) for c, _ in facts)
        truth[index[sig]] += 1
    a_eq = np.array([[1.0 if s[f] else 0.0 for s in atoms] for f in range(len(facts))])
    b_eq = np.array([float(n) for _, n in facts])
    assert np.allclose(a_eq @ truth, b_eq), "released counts do not match the population"

    targets: dict[tuple, str] = {}
    for n, s in enumerate(atoms):
        targets[tuple(1.0 if m == n else 0.0 for m in range(len(atoms)))] = f"atom {s}"
    for (i, (ca, _)), (j, (cb, _)) in itertools.combinations(enumerate(facts), 2):
        for name, keep in (
            (f"{ca} minus {cb}", lambda s, i=i, j=j: s[i] and not s[j]),
            (f"{cb} minus {ca}", lambda s, i=i, j=j: s[j] and not s[i]),
            (f"{ca} and {cb}", lambda s, i=i, j=j: s[i] and s[j]),
        ):
            vector = tuple(1.0 if keep(s) else 0.0 for s in atoms)
            targets.setdefault(vector, name)

    breaches = []
    for vector, name in targets.items():
        c = np.array(vector)
        size = float(c @ truth)
        if not 1 <= size <= k - 1:
            continue  # a pinned value is the true value, so only small true groups matter
        low = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
        high = linprog(-c, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
        lo = low.fun if low.status == 0 else 0.0
        hi = -high.fun if high.status == 0 else float("inf")
        if hi - lo < 0.5:
            breaches.append(Breach(name, int(size), lo, hi))
    return breaches

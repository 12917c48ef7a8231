"""Column specifications shared by the generator, the metrics and the app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnKind = Literal["numeric", "categorical", "date"]
ColumnRole = Literal["identifier", "quasi_identifier", "sensitive", "feature", "target"]


@dataclass(frozen=True)
class ColumnSpec:
    """What the pipeline knows about one column of a mart.

    Attributes:
        name: Column name in the mart.
        kind: ``numeric`` (numbers), ``categorical`` (codes, booleans, text) or ``date``.
        role: ``identifier`` columns are never modelled nor part of any distance.
        integer: Numeric values are whole numbers (restored as integers on decode).
        decimals: Numeric values are rounded to this many decimals on decode.
        lower: Smallest allowed value (numbers; dates as ISO text), if any.
        upper: Largest allowed value, if any.
    """

    name: str
    kind: ColumnKind
    role: ColumnRole = "feature"
    integer: bool = False
    decimals: int | None = None
    lower: float | None = None
    upper: float | None = None

    @property
    def is_identifier(self) -> bool:
        """True for columns that are never modelled nor compared."""
        return self.role == "identifier"

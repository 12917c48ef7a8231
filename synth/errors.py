"""The one exception family of the project.

Every error a user can meet derives from :class:`SynthError`. Messages are whole
sentences that say what went wrong and what to do next.
"""

from __future__ import annotations


class SynthError(Exception):
    """Base class of every error raised by this project."""


class ConfigError(SynthError):
    """Raised when a configuration file is missing, malformed or inconsistent.

    The message names the key at fault (for example ``generator.vae.epochs``).
    """

    def __init__(self, key: str, problem: str, path: str | None = None) -> None:
        self.key = key
        self.problem = problem
        self.path = path
        where = f" in {path}" if path else ""
        super().__init__(f"Configuration key '{key}'{where}: {problem}")


class DataError(SynthError):
    """Raised when input data cannot be used; names the file, row and column where known."""

    def __init__(
        self,
        problem: str,
        *,
        source: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.problem = problem
        self.source = source
        self.row = row
        self.column = column
        parts = []
        if source is not None:
            parts.append(f"file {source}")
        if row is not None:
            parts.append(f"row {row}")
        if column is not None:
            parts.append(f"column '{column}'")
        where = (", ".join(parts) + ": ") if parts else ""
        super().__init__(f"{where}{problem}")


class TrainingError(SynthError):
    """Raised when a generator cannot be trained (for example a loss turned NaN)."""


class NotFittedError(SynthError):
    """Raised when a generator is asked to sample or save before it was fitted."""


class PrivacyCheckFailed(SynthError):
    """Raised when a synthetic table fails a privacy check of the configuration."""


class QueryRefused(SynthError):
    """Raised by the k-anonymity guard when a query may not be answered."""

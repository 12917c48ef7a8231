"""Saving and loading fitted generators: one file of tensors and plain values.

Files are read with ``torch.load(weights_only=True)``, so loading a model never runs
code from the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from synth.errors import SynthError


def save_payload(path: str | Path, payload: dict[str, Any]) -> None:
    """Write a model's payload (tensors and plain values) to ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, target)


def load_payload(path: str | Path, file_format: str, what: str) -> dict[str, Any]:
    """Read a payload written by :func:`save_payload` and check its format tag.

    Raises:
        SynthError: The file is not a ``what`` saved by this version.
    """
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != file_format:
        raise SynthError(f"{path} is not a {what} saved by this version; fit it again.")
    return payload

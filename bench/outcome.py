"""What a sweep's recommendation earned on test, as the tuning benchmarks count it (one rule for all)."""

from __future__ import annotations

from typing import Any


def gap_closed(cell: dict[str, Any]) -> float | None:
    """The share of the default's gap to the reference that the recommendation closed on test:
    (recommended - default) / (reference - default), where the default earns less than half of a
    positive reference (None elsewhere). The control recommended: the user trains the default."""
    default, reference = cell["default"], cell.get("reference")
    if reference is None or reference <= 0 or not default < 0.5 * reference:
        return None
    recommended = default if cell["recommended"] == "control" else cell["new"]
    return (recommended - default) / (reference - default)

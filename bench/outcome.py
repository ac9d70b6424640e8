"""What a sweep's recommendation earned on test, as the tuning benchmarks count it (one rule for all)."""

from __future__ import annotations

from typing import Any


def recommended_test(cell: dict[str, Any]) -> float:
    """The recommendation's test Sharpe: the control recommended, the user trains the default (its
    single run); a tuned pick, its own."""
    return cell["default"] if cell["recommended"] == "control" else cell["new"]


def gap_closed(cell: dict[str, Any]) -> float | None:
    """The share of the default's gap to the reference that the recommendation closed on test:
    (recommended - default) / (reference - default), where the default earns less than half of a
    positive reference (None elsewhere)."""
    default, reference = cell["default"], cell.get("reference")
    if reference is None or reference <= 0 or not default < 0.5 * reference:
        return None
    return (recommended_test(cell) - default) / (reference - default)

"""The error of bad market data: one line that names the file (or ``synthetic data``) and the fault."""

from __future__ import annotations


class DataError(ValueError):
    """Bad market data. str(err) is ONE line naming the file (or 'synthetic data') and the fault."""


def data_error(where: str, fault: str) -> DataError:
    """A DataError whose message is one line: ``<where>: <fault>``."""
    text = " ".join(f"{where}: {fault}".split())
    return DataError("".join(ch if ch.isprintable() else "?" for ch in text))


def show_cell(value: object, limit: int = 40) -> str:
    """A short repr of a bad cell for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."

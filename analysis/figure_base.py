"""What every plot of the report shares: the look (size, colours) and saving a figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import NullLocator  # noqa: E402

from .tables import SweepSummary  # noqa: E402

DPI = 100
STATE_COLORS = {"complete": "#1f77b4", "pruned": "#ff7f0e", "failed": "#d62728", "running": "#7f7f7f",
                "waiting": "#9467bd"}
BEST_COLOR = "#d62728"
BH_COLOR = "#2ca02c"


def title(summary: SweepSummary, what: str) -> str:
    return f"{summary.sweep.model or '?'} · {summary.name} — {what}"


def save(fig: Figure, path: Path, title: str) -> Path:
    for ax in fig.axes:  # unlabelled minor ticks of log axes cost a quarter of a parallel plot's time
        ax.xaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_minor_locator(NullLocator())
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", pil_kwargs={"compress_level": 1})
    plt.close(fig)
    return path


def first_figure(axes: Any) -> Figure:
    return (np.ravel(axes)[0] if isinstance(axes, np.ndarray) else axes).figure


def figure(width: float, height: float, **adjust: float) -> Figure:
    fig = Figure(figsize=(width, height))
    if adjust:
        fig.subplots_adjust(**adjust)
    return fig

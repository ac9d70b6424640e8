"""``python -m hpo_app.apply <bundle> <prices.csv> [--out DIR] [--start DATE]``: a bundled agent
(``python -m hpo_app.export``) on new prices: its positions and equity beside buy-and-hold and flat
(``positions.csv``), the metrics a run reports (``metrics.json``) and a plot (``equity.png``).

The run is causal: the decision at a bar sees the bars up to it only, scaled with the bundle's own
training scaler (never refitted on the new prices). Data whose columns, bar spacing or length do
not fit the bundle is refused in one line (exit code 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hpo_app import fmt
from hpo_app.agent import Agent, Applied
from hpo_app.bundle import BundleError
from hpo_app.data import DataError, load_csv


def write(applied: Applied, out: Path, title: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    applied.frame.to_csv(out / "positions.csv", index=False)
    (out / "metrics.json").write_text(json.dumps(applied.metrics, indent=2))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, height_ratios=(3, 1))
    x = range(len(applied.frame))
    for name, style in (("agent", "-"), ("buy_and_hold", "--"), ("flat", ":")):
        top.plot(x, applied.frame[name], style, label=name.replace("_", " "))
    top.set_ylabel("equity (1 at the first decision)")
    top.legend(loc="upper left")
    top.set_title(title)
    bottom.step(x, applied.frame["position"], where="post", lw=0.8)
    bottom.set_ylabel("position")
    ticks = list(range(0, len(applied.frame), max(1, len(applied.frame) // 6)))
    bottom.set_xticks(ticks, [applied.frame["timestamp"].iloc[i][:10] for i in ticks])
    fig.tight_layout()
    fig.savefig(out / "equity.png", dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hpo_app.apply", description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path, help="a directory written by python -m hpo_app.export")
    parser.add_argument("prices", type=Path, help="an OHLCV CSV file (the layouts python -m hpo_app data=csv reads)")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: <prices>.applied/ beside it)")
    parser.add_argument("--start", default=None, help="the first decision's date (default: the first bar with features)")
    args = parser.parse_args(argv)
    out = args.out or args.prices.with_name(args.prices.stem + ".applied")
    try:
        agent = Agent.load(args.bundle)
        applied = agent.run(load_csv(args.prices), start=args.start, where=str(args.prices))
        write(applied, out, f"{agent.bundle.spec['model'].upper()} agent on {args.prices.name}")
    except (BundleError, DataError, OSError) as err:
        print(f"error: {str(err).splitlines()[0]}", file=sys.stderr)
        sys.exit(2)
    m = applied.metrics
    for who in ("agent", "buy_and_hold", "flat"):
        print(f"{who:<13} sharpe {fmt.metric('sharpe', m[who]['sharpe']):>6} | return "
              f"{fmt.metric('total_return', m[who]['total_return']):>7} | max dd "
              f"{fmt.metric('max_drawdown', m[who]['max_drawdown']):>6} | trades {int(m[who]['n_trades'])}")
    print(f"{len(applied.frame) - 1} decisions from {applied.frame['timestamp'].iloc[0]}; written to {out}")


if __name__ == "__main__":
    main()

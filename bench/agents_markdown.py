"""The agents benchmark's sections of docs/benchmarks.md, from what ``bench/bench_agents.py`` measured."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench.agents_cases import HELD_OUT_SEEDS, MODELS, MODEL_FACTORS


def by_val(rows: dict[tuple[str, str], list[dict[str, float]]], model: str) -> list[str]:
    """The model's cases, best mean validation Sharpe first."""
    return sorted((name for m, name in rows if m == model), key=lambda n: -mean(rows[(model, n)], "val"))


def label(name: str) -> str:
    return "before #14 (window 30, all features)" if name == "default" else name


def mean(rows: list[dict[str, float]], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def markdown_why(results: dict[str, Any], seeds: int, minutes: float, reused: bool = False) -> str:
    took = ("from runs that earlier invocations had made (`--reuse`; about 30 minutes of running in all)" if reused
            else f"in {minutes:.0f} minutes")
    lines = ["## Why the agents miss the edge (issue #14)", "",
             (f"Measured by `bench/bench_agents.py --only why` on {time.strftime('%Y-%m-%d')} {took}. "
             f"Planted-edge market (`data=edge`, AR(1) coefficient 0.15, 1 % daily volatility, 5 bps costs), "
             f"data seeds 0-{seeds - 1} (agent seed = data seed); each row changes one thing from the agent as it "
             "was before issue #14 (window 30, all 10 features, otherwise today's model defaults) and shows means "
             "over the seeds; the defaults now are window 1, returns. *Gap*: train - validation Sharpe (the reference policy's "
             "own gap is the market's). *Agree*: share of test decisions where the agent holds the reference's position "
             "(0.33 is chance for three positions)."), "",
             "| model | change | train | val | test | gap | reference train / val / test | agree |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for (model, name), rows in results["factors"].items():
        lines.append(f"| {model} | {label(name)} | {mean(rows, 'train'):.2f} | {mean(rows, 'val'):.2f} | "
                     f"{mean(rows, 'test'):.2f} | {mean(rows, 'train') - mean(rows, 'val'):.2f} | "
                     f"{mean(rows, 'ref_train'):.2f} / {mean(rows, 'ref_val'):.2f} / {mean(rows, 'ref_test'):.2f} | "
                     f"{mean(rows, 'agree'):.2f} |")
    lines += ["", "### Hourly-size returns (`data.vol=0.001`): costs eat the edge, flat is best", "",
              "| change | trades on train | train Sharpe | val | test | reference test |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for (_, name), rows in results["hourly"].items():
        lines.append(f"| {label(name)} | {mean(rows, 'trades_train'):.0f} | {mean(rows, 'train'):.2f} | "
                     f"{mean(rows, 'val'):.2f} | {mean(rows, 'test'):.2f} | {mean(rows, 'ref_test'):.2f} |")
    lines += ["", "Reproduce: `python bench/bench_agents.py --only why" + (f" --seeds {seeds}`" if seeds != 3 else "`")]
    return "\n".join(lines)


def markdown_defaults(results: dict[str, Any], seeds: int, minutes: float) -> str:
    lines = ["## DQN and A2C defaults (issue #14)", "",
             (f"Measured by `bench/bench_agents.py --only defaults` on {time.strftime('%Y-%m-%d')} in {minutes:.0f} "
              "minutes. Planted-edge market, from the defaults of the time (window 1, returns); means over data seeds "
              f"0-{seeds - 1}. Round 1 changes one thing; round 2 joins the two and three best changes by validation. "
              "The pick is the case with the best mean validation Sharpe (the test column took no part in it); "
              "it is then run beside the default on data seeds "
              f"{HELD_OUT_SEEDS[0]}-{HELD_OUT_SEEDS[-1]}, which took no part either."), "",
             "| model | change | train | val | test | gap | reference val / test | agree |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    rows = results["rows"]
    for model in MODEL_FACTORS:
        for name in by_val(rows, model):
            r = rows[(model, name)]
            mark = " **(pick)**" if name == results["picks"][model][0] else ""
            lines.append(f"| {model} | {name}{mark} | {mean(r, 'train'):.2f} | {mean(r, 'val'):.2f} | "
                         f"{mean(r, 'test'):.2f} | {mean(r, 'train') - mean(r, 'val'):.2f} | "
                         f"{mean(r, 'ref_val'):.2f} / {mean(r, 'ref_test'):.2f} | {mean(r, 'agree'):.2f} |")
    lines += ["", f"Held-out data seeds {HELD_OUT_SEEDS[0]}-{HELD_OUT_SEEDS[-1]} (test Sharpe, share of the reference's):", ""]
    held = results["held_out"]
    for model, (pick, overrides) in results["picks"].items():
        base = held[(model, "default")]
        ref = mean(base, "ref_test")
        text = f"- {model}: default {mean(base, 'test'):.2f} ({mean(base, 'test') / ref:.0%})"
        if pick != "default":
            mine = held[(model, pick)]
            text += (f", pick ({pick}: `{' '.join(overrides)}`) {mean(mine, 'test'):.2f} "
                     f"({mean(mine, 'test') / ref:.0%}), val {mean(base, 'val'):.2f} -> {mean(mine, 'val'):.2f}")
        lines.append(text + f"; reference {ref:.2f}")
    lines += ["", "Reproduce: `python bench/bench_agents.py --only defaults`"]
    return "\n".join(lines)


def markdown_table(results: dict[str, Any], seeds: int, minutes: float, planned: int, reused: bool = False) -> str:
    rows = results["rows"]
    partial = (f" **Partial: {len(rows)} of {planned} rows** (the benchmark was stopped; `--reuse` completes it)."
               if len(rows) < planned else "")
    lines = ["## Default and tuned agents against the reference (issue #14)", "",
             (f"Measured by `bench/bench_agents.py --only table` on {time.strftime('%Y-%m-%d')} in {minutes:.0f} minutes. "
             "Default: one run of `python -m hpo_app model=<m>`; tuned: the best trial by validation of "
             "`python -m hpo_app -m model=<m> hpo=standard`. Planted edge: `data=edge`, data seeds "
             f"0-{seeds - 1}; the comparison is the reference policy. GOOG: daily 2004-2008 from matplotlib's sample "
             f"data, compared with buy-and-hold.{partial}"
             + (" Runs and sweeps that an earlier call had finished in the same `--out` (same code and defaults "
                "for their model) were read, not run again (`--reuse`)." if reused else "")), "",
             "| market | model | seed | default val / test | tuned val / test | reference (GOOG: buy & hold) val / test |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['market']} | {r['model']} | {r['seed']} | {r['default_val']:.2f} / {r['default_test']:.2f} | "
                     f"{r['tuned_val']:.2f} / {r['tuned_test']:.2f} | {r['ref_val']:.2f} / {r['ref_test']:.2f} |")
    lines += ["", ("Means on the planted edge (test Sharpe, and as a share of the reference's; goal: tuned >= 70 %, "
                   "default >= 50 %):"), ""]
    for model in MODELS:
        mine = [r for r in rows if r["model"] == model and r["market"] == "planted edge"]
        if mine:
            ref = mean(mine, "ref_test")
            lines.append(f"- {model}: default {mean(mine, 'default_test'):.2f} ({mean(mine, 'default_test') / ref:.0%}), "
                         f"tuned {mean(mine, 'tuned_test'):.2f} ({mean(mine, 'tuned_test') / ref:.0%}), reference {ref:.2f}")
    lines += ["", "Reproduce: `python bench/bench_agents.py --only table`"]
    return "\n".join(lines)

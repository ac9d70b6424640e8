"""The report's document model and its two renderings: ``summary.md`` (Markdown, images beside
it) and ``report.html`` (one self-contained file, images embedded); and the cell format both use."""

from __future__ import annotations

import base64
import html
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def fmt(value: Any, digits: int = 4) -> str:
    """A cell value for humans: 4 significant digits, integers as integers, missing as '–'."""
    if value is None or value is pd.NA:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "–"
        if float(value).is_integer() and abs(value) < 1e9:
            return str(int(value))
        return f"{value:.{digits}g}"
    return str(value)


@dataclass
class Block:
    """One piece of the report: heading, paragraph, table, code, list or image."""

    kind: str  # "h1" "h2" "h3" "p" "table" "code" "list" "img"
    text: str = ""
    table: pd.DataFrame | None = None
    items: list[str] = field(default_factory=list)
    image: Any = None  # a PlotFile


def _cell(v: Any) -> str:
    return fmt(v)


def render_markdown(blocks: Sequence[Block], base: Path) -> str:
    out: list[str] = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            out.append("#" * int(b.kind[1]) + " " + b.text)
        elif b.kind == "p":
            out.append(b.text)
        elif b.kind == "code":
            out.append("```sh\n" + b.text + "\n```")
        elif b.kind == "list":
            out.append("\n".join(f"- {i}" for i in b.items))
        elif b.kind == "table" and b.table is not None:
            df = b.table
            header = "| " + " | ".join(str(c) for c in df.columns) + " |"
            sep = "|" + "|".join(" --- " for _ in df.columns) + "|"
            rows = [
                "| " + " | ".join(_cell(v).replace("|", "\\|") for v in row) + " |"
                for row in df.itertuples(index=False)
            ]
            out.append("\n".join([header, sep, *rows]))
        elif b.kind == "img":
            rel = os.path.relpath(b.image.path, base)
            out.append(f"![{b.text}]({rel})")
        out.append("")
    return "\n".join(out)


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}
h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #bbb;margin-top:2em}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f0f0f0}
td:first-child,th:first-child{text-align:left}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;white-space:pre-wrap;word-break:normal;overflow-wrap:normal}
pre.cmd span{white-space:nowrap}
p code,li code{overflow-wrap:anywhere}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{font-size:13px;color:#555;max-width:900px}code{background:#f3f3f3;padding:0 3px}
"""


def _inline(text: str) -> str:
    """Escape text for HTML, turning `code` spans into <code> and **bold** into <b>."""
    parts = html.escape(text).split("`")
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{part}</code>")
        else:
            bold = part.split("**")
            out.append("".join(f"<b>{b}</b>" if j % 2 else b for j, b in enumerate(bold)))
    return "".join(out)


_TOKEN = re.compile(r"""(?:[^\s'"]+|'[^']*'|"[^"]*")+""")


def _command_html(command: str) -> str:
    """A command whose lines wrap only between its words: each word (a quoted one whole) is a
    span that never breaks; a word wider than the page scrolls inside the box."""
    return " ".join(f"<span>{html.escape(m.group(0))}</span>" for m in _TOKEN.finditer(command))


def render_html(blocks: Sequence[Block], title: str = "Sweeps report") -> str:
    head = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>")
    out = [head]
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            out.append(f"<{b.kind}>{_inline(b.text)}</{b.kind}>")
        elif b.kind == "p":
            out.append(f"<p>{_inline(b.text)}</p>")
        elif b.kind == "code":
            out.append(f"<pre class='cmd'>{_command_html(b.text)}</pre>")
        elif b.kind == "list":
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items) + "</ul>")
        elif b.kind == "table" and b.table is not None:
            df = b.table
            head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
            body = "".join(
                "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
                for row in df.itertuples(index=False)
            )
            out.append(f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")
        elif b.kind == "img":
            data = base64.b64encode(Path(b.image.path).read_bytes()).decode("ascii")
            name = html.escape(Path(b.image.path).name)
            out.append(
                f"<figure id='{name}'><a href='{name}' target='_blank' title='open full size'>"
                f"<img src='data:image/png;base64,{data}' alt='{html.escape(b.text)} ({name})'></a>"
                f"<figcaption><b>{html.escape(b.text)}</b> ({name}). {html.escape(b.image.caption)}</figcaption></figure>"
            )
    out.append("</body></html>")
    return "\n".join(out)

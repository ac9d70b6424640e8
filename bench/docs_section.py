"""Write one benchmark's section of docs/benchmarks.md, between its markers, leaving the rest."""

from __future__ import annotations

from pathlib import Path


def markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


def write_section(path: Path, name: str, text: str) -> None:
    """Replace the text between the section's markers (re-read just before writing), or append
    the section; nothing outside the markers changes."""
    start, end = markers(name)
    block = f"{start}\n{text.rstrip()}\n{end}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# Benchmarks\n\n" + block + "\n", encoding="utf-8")
        return
    current = path.read_text(encoding="utf-8")
    if start in current and end in current:
        head, rest = current.split(start, 1)
        _, tail = rest.split(end, 1)
        path.write_text(head + block + tail, encoding="utf-8")
    else:
        path.write_text(current.rstrip("\n") + "\n\n" + block + "\n", encoding="utf-8")

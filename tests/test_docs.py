"""The documents a user opens first: a short README whose set-up commands are the ones CI runs,
links between the docs that lead somewhere, and a declared license. Reads files only (fast)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

README = REPO_ROOT / "README.md"
DOCS = sorted((REPO_ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS, REPO_ROOT / "examples" / "README.md"]
README_MAX_LINES = 160

_FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[^\n]*$", flags=re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", flags=re.MULTILINE)


def _prose(text: str) -> str:
    """The page without its fenced code blocks (what is in them is code, not links or headings)."""
    return _FENCE.sub("", text)


def _anchors(page: Path) -> set[str]:
    """The anchors of a page's headings, as GitHub makes them: lower case, punctuation dropped
    (letters, digits, `_`, `-` and spaces kept), spaces as hyphens, `-1`, `-2`... for repeats."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in _HEADING.findall(_prose(page.read_text())):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def _links(page: Path) -> list[str]:
    """The targets of a page's Markdown links, outside code."""
    return _LINK.findall(_CODE_SPAN.sub("", _prose(page.read_text())))


def test_the_readme_is_short() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; the long form belongs in docs/guide.md"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page: Path) -> None:
    broken = []
    for target in _links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not a file of the repository
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no file {linked}")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.relative_to(REPO_ROOT)}")
    assert not broken, "\n".join(broken)


def test_the_docs_that_code_and_configs_name_exist() -> None:
    """The --help footer (conf/config.yaml), module docstrings and comments point into docs/."""
    named = set()
    for source in [*REPO_ROOT.glob("conf/**/*.yaml"), *REPO_ROOT.glob("hpo_app/*.py"), *REPO_ROOT.glob("analysis/*.py"),
                   *REPO_ROOT.glob("hpo_record/*.py"), *REPO_ROOT.glob("hydra_plugins/hpo_sweeper/*.py")]:
        named |= set(re.findall(r"\bdocs/[\w-]+\.md\b", source.read_text()))
    assert named, "no docs/*.md named anywhere: the pattern is wrong"
    assert not sorted(n for n in named if not (REPO_ROOT / n).is_file())


def test_the_project_declares_its_license() -> None:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    license_file = REPO_ROOT / "LICENSE"
    assert license_file.is_file() and license_file.read_text().startswith("MIT License")
    assert "the hpo-app authors" in license_file.read_text()
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] in ("MIT", {"text": "MIT"})


def _ci_commands() -> list[str]:
    """What .ci/run runs to make its environment and test: venv, activate, install, pytest."""
    starts = ("python3 -m venv", ". .venv/bin/activate", "pip install", "python -m pytest")
    return [line.strip() for line in (REPO_ROOT / ".ci" / "run").read_text().splitlines()
            if line.strip().startswith(starts)]


def test_the_readmes_set_up_commands_are_the_ones_ci_runs() -> None:
    ci = _ci_commands()
    assert [c.split()[0] for c in ci] == ["python3", ".", "pip", "python"], ci
    venv, activate, install, test = ci
    assert install == 'pip install -e ".[dev]"'  # the tests need the extras postgres and dashboard too
    tested = " && ".join(ci)
    runs = " && ".join([venv, activate, "pip install -e .", "python -m hpo_app"])
    commands = [line.strip() for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.DOTALL)
                for line in block.splitlines()]
    assert runs in commands, f"README.md should show the set-up command\n{runs}"
    assert tested in commands, f"README.md should show the test command .ci/run runs\n{tested}"
    guide = (REPO_ROOT / "docs" / "guide.md").read_text()
    assert runs in guide and tested in guide, "docs/guide.md (Installing) repeats both commands"

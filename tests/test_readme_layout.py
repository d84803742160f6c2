"""The README's layout section names every module of the package, and only modules that exist.

Matched by file name: a name that several packages share (rules.py, records.py) is covered by
one mention, so this catches a module left out or renamed, not one described in the wrong place.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "bandit_router"


def _layout() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("## Layout\n", 1)[1].split("\n## ", 1)[0]


def test_every_module_is_in_the_layout_section():
    layout = _layout()
    modules = sorted(p.relative_to(SRC) for p in SRC.rglob("*.py") if p.name != "__init__.py")
    missing = [str(m) for m in modules if not re.search(rf"(?<![\w.]){re.escape(m.name)}", layout)]
    assert not missing, f"README.md's layout section does not describe: {missing}"


def test_every_file_the_layout_names_exists():
    names = set(re.findall(r"(?<![\w.])(\w+\.(?:py|c))\b", _layout()))
    files = {p.name for p in ROOT.rglob("*") if p.suffix in (".py", ".c")
             and ".venv" not in p.parts}
    assert names - files == set(), f"the layout names files that do not exist: {names - files}"

"""Imports point inward: what each package may import, and what the CLI loads."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

import bandit_router
from bandit_router.cli import app

SRC = Path(bandit_router.__file__).resolve().parent


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module, at top level) of every import in ``path``."""
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, id(node) in top))
        elif isinstance(node, ast.Import):
            out += [(a.name, id(node) in top) for a in node.names]
    return out


def _modules(package: str = "") -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


def test_proxy_does_not_import_the_api():
    for path in _modules("proxy"):
        assert not [m for m, _ in _imports(path) if m.startswith("bandit_router.api")], path


def test_only_the_cli_imports_simulations_and_only_inside_a_command():
    for path in _modules():
        found = [(m, top) for m, top in _imports(path) if m.split(".")[0] == "simulations"]
        if path.name == "cli.py" and path.parent == SRC:
            assert found and not any(top for _, top in found)
        else:
            assert not found, path


def test_the_cli_and_off_policy_evaluation_load_no_simulation_module():
    code = ("import json, sys; import bandit_router.cli, bandit_router.ope; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('simulations'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout) == []


def test_simulate_runs_through_the_main_cli_with_its_own_options(tmp_path):
    summary = tmp_path / "s.json"
    res = CliRunner().invoke(app, [
        "simulate", "--scenario", "stationary", "--steps", "300", "--policies",
        "thompson,random", "--refit-every", "50", "--workers", "1", "--no-progress",
        "--json", str(summary)])
    assert res.exit_code == 0, res.output
    assert {r["policy"] for r in json.loads(summary.read_text())["results"]} == {
        "thompson", "random"}
    bad = CliRunner().invoke(app, ["simulate", "--scenario", "nope"])
    assert bad.exit_code == 2 and "unknown scenario" in bad.output

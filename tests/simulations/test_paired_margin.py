"""Paired margins: two policies compared run by run on the same streams."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from simulations import paired_margin


def _summary():
    def runs(margins):
        return [{"seed": s, "cost_weight": lam, "margin": m, "above": m > 0}
                for (s, lam), m in margins.items()]

    base = {(0, 0.0): -0.02, (0, 20.0): 0.01, (1, 0.0): -0.01, (1, 20.0): 0.00}
    # listed in another order, and with a run the baseline lacks: pairs by (seed, λ)
    variant = {(1, 20.0): 0.02, (1, 0.0): -0.02, (0, 20.0): 0.03, (0, 0.0): 0.00,
               (2, 0.0): 0.50}
    return {"frontier": {"policies": {"thompson": {"runs": runs(base)},
                                      "thompson:subspace=8": {"runs": runs(variant)}}}}


def test_margins_are_paired_by_seed_and_cost_weight():
    r = paired_margin.paired(_summary(), "thompson:subspace=8", "thompson")
    diffs = [0.02, 0.02, -0.01, 0.02]  # (0, 0), (0, 20), (1, 0), (1, 20)
    mean = sum(diffs) / 4
    se = (sum((d - mean) ** 2 for d in diffs) / 3 / 4) ** 0.5
    assert r["runs"] == 4
    assert r["mean"] == pytest.approx(mean) and r["se"] == pytest.approx(se)
    assert (r["higher"], r["lower"]) == (3, 1)
    assert (r["above_baseline"], r["above_variant"]) == (1, 2)


def test_the_command_prints_one_line_per_variant_and_names_a_missing_policy(tmp_path):
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(_summary()))
    app = paired_margin.typer.Typer()
    app.command()(paired_margin.main)
    out = CliRunner().invoke(app, [str(path)])
    assert out.exit_code == 0
    assert "thompson:subspace=8" in out.output and "+0.0125 ±" in out.output
    out = CliRunner().invoke(app, [str(path), "--baseline", "linucb"])
    assert out.exit_code != 0 and "linucb" in out.output


def test_a_missing_or_foreign_file_is_one_clear_error(tmp_path):
    app = paired_margin.typer.Typer()
    app.command()(paired_margin.main)
    missing = CliRunner().invoke(app, [str(tmp_path / "nope.json")])
    assert missing.exit_code == 2 and "cannot read" in missing.output
    assert isinstance(missing.exception, SystemExit)  # a usage error, not a crash
    other = tmp_path / "other.json"
    other.write_text('{"runs": []}')
    out = CliRunner().invoke(app, [str(other)])
    assert out.exit_code == 2 and "not a summary of a sweep" in out.output

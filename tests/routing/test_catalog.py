"""The models file: a key it does not know is named, never silently ignored."""

from __future__ import annotations

import subprocess

from tests.test_cli import BIN

MODEL = ('[[models]]\nid = "gpt-4o-mini"\ninput_price_per_mtok = 0.15\n'
         'output_price_per_mtok = 0.6\ncontext_window = 128000\n')


def _check(tmp_path, extra: str) -> subprocess.CompletedProcess:
    path = tmp_path / "models.toml"
    path.write_text(MODEL + extra)
    return subprocess.run([str(BIN), "models", str(path)], capture_output=True, text=True)


def test_a_misspelt_key_is_refused_with_the_key_it_resembles(tmp_path):
    out = _check(tmp_path, 'upstream_modle = "gpt-4o-mini"\n')
    assert out.returncode == 2
    assert "model 'gpt-4o-mini': unknown key 'upstream_modle' (did you mean 'upstream_model'?)" \
        in out.stderr


def test_an_api_key_in_the_file_is_refused_pointing_to_api_key_env_without_repeating_it(
        tmp_path):
    out = _check(tmp_path, 'api_key = "sk-live-7d1e0c9b"\n')
    assert out.returncode == 2
    assert "api_key_env" in out.stderr
    assert "sk-live-7d1e0c9b" not in out.stdout + out.stderr


def test_serve_with_such_a_file_stops_with_one_line(tmp_path):
    from tests.test_startup import _one_error_line, _run

    path = tmp_path / "models.toml"
    path.write_text(MODEL + 'api_key = "sk-live-7d1e0c9b"\n')
    out = _run(tmp_path, "serve", "--models", str(path))
    line = _one_error_line(out)
    assert str(path) in line and "api_key_env" in line
    assert "sk-live-7d1e0c9b" not in out.stdout + out.stderr

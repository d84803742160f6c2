"""Starting `bandit-router serve` as a new user does, in real processes: which database it
uses whatever the folder, the operator key only once the start is sound, and one line (never
a traceback) when the start cannot go on."""

from __future__ import annotations

import subprocess
import uuid

import httpx
import pytest

from tests.conftest import EXAMPLE_MODELS, PG_SERVER
from tests.test_cli import (BIN, _free_port, _printed_key, _serve, _wait_ready, default_db,
                            user_env)

PG_HOSTPORT = PG_SERVER.split("@", 1)[1]  # 127.0.0.1:5432
MODEL = ('[[models]]\nid = "m1"\ninput_price_per_mtok = 1\noutput_price_per_mtok = 2\n'
         'context_window = 8000\n')


def _run(tmp_path, *args, env=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN), *args], cwd=cwd or tmp_path, capture_output=True,
                          text=True, timeout=60, env={**user_env(tmp_path), **(env or {})})


def _one_error_line(out: subprocess.CompletedProcess) -> str:
    """The start failed with exit code 2 and said why in one line, besides naming the
    database; returns that line."""
    text = out.stdout + out.stderr
    assert out.returncode == 2, text
    assert "Traceback" not in text
    lines = [ln for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("bandit-router: error: ")]
    assert len(errors) == 1, text
    assert all(ln == errors[0] or ln.startswith("bandit-router: database: ") for ln in lines), text
    return errors[0]


def _startup_lines(proc) -> tuple[str, list[str]]:
    """The operator key `serve` prints on a new database, and every line printed before it."""
    before = []
    while "operator key" not in (line := proc.stdout.readline().decode()):
        assert line, "serve ended without printing an operator key:\n" + "".join(before)
        before.append(line)
    proc.stdout.readline()
    return proc.stdout.readline().decode().strip(), before


def test_a_cli_command_run_from_another_folder_uses_the_database_the_server_uses(tmp_path):
    server_dir, other_dir = tmp_path / "server", tmp_path / "elsewhere"
    server_dir.mkdir(), other_dir.mkdir()
    proc, url = _serve(tmp_path, "--models", str(EXAMPLE_MODELS), cwd=server_dir)
    try:
        key, printed = _startup_lines(proc)
        admin = {"Authorization": f"Bearer {key}"}
        _wait_ready(url, proc)
        made = _run(tmp_path, "tenants", "create", "Shop", "--id", "shop", cwd=other_dir)
        assert made.returncode == 0, made.stderr
        # Both say which database they use: the same file, in the user's data folder.
        said = f"bandit-router: database: SQLite file {default_db(tmp_path)}"
        assert said in made.stderr
        r = httpx.get(url + "/v1/tenants/shop", headers=admin)
        assert r.status_code == 200 and r.json()["name"] == "Shop"
    finally:
        proc.terminate()
        proc.wait(10)
    assert f"{said}\n" in printed
    assert not list(server_dir.iterdir()) and not list(other_dir.iterdir())  # no stray .db


def test_the_operator_key_is_printed_only_once_the_start_is_sound(tmp_path):
    models = tmp_path / "models.toml"
    models.write_text(MODEL + "tags = [cheap]\n")  # a TOML error on line 6
    failed = _run(tmp_path, "serve", "--models", str(models), "--port", str(_free_port()))
    line = _one_error_line(failed)
    assert str(models) in line and "line 6" in line
    assert "br_" not in failed.stdout + failed.stderr and "operator key" not in failed.stdout

    models.write_text(MODEL + 'tags = ["cheap"]\n')  # corrected: this start prints the key
    proc, url = _serve(tmp_path, "--models", str(models))
    try:
        key = _printed_key(proc)
        _wait_ready(url, proc)
        assert httpx.get(url + "/v1/tenants", headers={"Authorization": f"Bearer {key}"}
                         ).status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)


def test_postgres_down_is_one_line_naming_host_and_database_never_the_password(tmp_path):
    port = _free_port()  # nothing listens there
    url = f"postgresql+psycopg://postgres:Pw-9d2f7a@127.0.0.1:{port}/shopdb"
    for args in (("serve", "--port", str(_free_port())), ("tenants", "list")):
        out = _run(tmp_path, *args, "--database-url", url)
        line = _one_error_line(out)
        assert f"'shopdb' on 127.0.0.1:{port}" in line and "running" in line
        assert "Pw-9d2f7a" not in out.stdout + out.stderr


def test_a_missing_postgres_database_says_how_to_create_it(tmp_path):
    name = f"br_missing_{uuid.uuid4().hex[:8]}"
    out = _run(tmp_path, "serve", "--port", str(_free_port()), "--database-url",
               f"postgresql+psycopg://postgres:Pw-9d2f7a@{PG_HOSTPORT}/{name}")
    line = _one_error_line(out)
    host, port = PG_HOSTPORT.split(":")
    assert f"createdb -h {host} -p {port} -U postgres {name}" in line
    assert "Pw-9d2f7a" not in out.stdout + out.stderr


@pytest.mark.parametrize("name,value,expected", [
    ("BANDIT_ROUTER_PORT", "99999", "BANDIT_ROUTER_PORT='99999'"),
    ("BANDIT_ROUTER_POLICY", "greedy", "BANDIT_ROUTER_POLICY='greedy'"),
    ("BANDIT_ROUTER_DATABASE_URL", "postgres//nope", "not a usable database URL"),
])
def test_a_bad_setting_is_one_line_naming_the_variable(tmp_path, name, value, expected):
    line = _one_error_line(_run(tmp_path, "serve", env={name: value}))
    assert expected in line


def test_a_setting_that_contradicts_another_says_what_to_choose_without_echoing_secrets(
        tmp_path):
    line = _one_error_line(_run(tmp_path, "serve", env={
        "BANDIT_ROUTER_FEATURE_BUCKETS": "100",
        "BANDIT_ROUTER_DATABASE_URL": f"postgresql+psycopg://postgres:Pw-9d2f7a@{PG_HOSTPORT}/x"}))
    assert "BANDIT_ROUTER_FEATURE_BUCKETS=100: WordLlama embeddings have 32, 64, 128, 256" in line
    assert "Pw-9d2f7a" not in line


def test_serve_refuses_several_workers_on_sqlite(tmp_path):
    line = _one_error_line(_run(tmp_path, "serve", "--workers", "2", "--port",
                                str(_free_port())))
    assert "--workers 2 needs PostgreSQL" in line


def test_serve_points_to_a_database_left_at_the_former_default_place(tmp_path):
    (tmp_path / "bandit-router.db").write_bytes(b"")  # ./bandit-router.db, the old default
    out = _run(tmp_path, "serve", "--workers", "2")  # refused at once, after the notes
    assert (f"note: {tmp_path / 'bandit-router.db'} (the former default database) is not used; "
            f"to keep it, set BANDIT_ROUTER_DATABASE_URL=sqlite:///{tmp_path / 'bandit-router.db'}"
            in out.stderr)


def test_a_port_in_use_is_one_line_before_any_key(tmp_path):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        out = _run(tmp_path, "serve", "--port", str(port))
    line = _one_error_line(out)
    assert f"cannot listen on 127.0.0.1:{port}" in line and "--port" in line
    assert "br_" not in out.stdout + out.stderr


def test_a_missing_postgres_user_is_named(tmp_path):
    out = _run(tmp_path, "tenants", "list", "--database-url",
               f"postgresql+psycopg://nobody_{uuid.uuid4().hex[:6]}@{PG_HOSTPORT}/postgres")
    line = _one_error_line(out)
    assert "does not exist" in line and "createuser" in line

from __future__ import annotations


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["checks"]["database"] == "ok"
    assert r.json()["checks"]["posterior"].startswith("version ")


def test_readyz_fails_when_the_database_is_gone(make_client, tmp_path):
    client = make_client(f"sqlite:///{tmp_path / 'x.db'}")
    svc = client.app.state.service
    svc.engine.dispose()
    import sqlalchemy as sa

    svc.engine = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none",
                                  connect_args={"connect_timeout": 1})
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["database"].startswith("unreachable")
    assert "nobody" not in r.text

from __future__ import annotations

from tests.conftest import ADMIN


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


def test_readyz_is_not_ready_while_no_model_is_registered(make_client, db_url):
    # /v1/route would answer 503 ("no models are registered"): so does /readyz, saying why.
    client = make_client(db_url)
    assert client.post("/v1/route", json={"prompt": "hi"}).status_code == 503
    r = client.get("/readyz")
    assert r.status_code == 503 and r.headers["retry-after"]
    assert r.json()["checks"]["models"].startswith("none registered")
    model = {"input_price_per_mtok": 1.0, "output_price_per_mtok": 2.0, "context_window": 8000}
    assert client.put("/v1/models/m1", json=model, headers=ADMIN).status_code == 201
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["checks"]["models"] == "1 registered"
    assert client.post("/v1/route", json={"prompt": "hi"}).status_code == 200

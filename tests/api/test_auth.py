"""Tenancy and keys, on real PostgreSQL: who may call what, and who sees which decisions."""

from __future__ import annotations

import hashlib
import time

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from bandit_router.api.app import create_app
from tests.conftest import ADMIN, OPERATOR_KEY, TWO_MODELS, new_tenant, route


@pytest.fixture
def pg_client(make_client, pg_url):
    return make_client(pg_url, TWO_MODELS)


def test_missing_or_bad_key_is_401(pg_client):
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer nope"},
                    {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}):
        for method, path, body in (("post", "/v1/route", {"prompt": "x"}),
                                   ("post", "/v1/feedback", {"decision_id": "x", "reward": 1}),
                                   ("get", "/v1/models", None)):
            r = pg_client.request(method, path, json=body, headers=headers)
            assert r.status_code == 401, (headers, path, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
            assert r.json()["detail"]


def test_app_key_on_an_admin_endpoint_is_403(pg_client):
    for method, path, body in (
        ("post", "/v1/tenants", {"name": "x"}),
        ("post", "/v1/tenants/acme/keys", None),
        ("delete", "/v1/keys/key_x", None),
        ("put", "/v1/tenants/acme/budget", {"period": "day", "limit_usd": 1}),
        ("put", "/v1/models/m", {"input_price_per_mtok": 1, "output_price_per_mtok": 1,
                                 "context_window": 10}),
        ("delete", "/v1/models/model-a", None),
        ("post", "/v1/admin/refit", None),
        ("get", "/v1/tenants", None),
    ):
        r = pg_client.request(method, path, json=body)
        assert r.status_code == 403, (path, r.text)
        assert "operator key" in r.json()["detail"]


def test_feedback_on_another_tenants_decision_is_404_and_stores_nothing(pg_client):
    other = new_tenant(pg_client, "globex")
    theirs = route(pg_client, "their prompt", **{})  # made by acme (default key)
    r = pg_client.post("/v1/feedback", json={"decision_id": theirs["decision_id"], "reward": 1},
                       headers=other)
    assert r.status_code == 404
    # ...and acme can still record it: nothing was written by globex.
    ok = pg_client.post("/v1/feedback", json={"decision_id": theirs["decision_id"], "reward": 0})
    assert ok.status_code == 201


def test_usage_of_another_tenant_is_404_for_an_app_key(pg_client):
    new_tenant(pg_client, "globex")
    assert pg_client.get("/v1/tenants/globex/usage").status_code == 404
    assert pg_client.get("/v1/tenants/acme/usage").status_code == 200
    assert pg_client.get("/v1/tenants/globex/usage", headers=ADMIN).status_code == 200


def test_decisions_are_logged_under_the_callers_tenant(pg_client):
    d = route(pg_client)
    assert pg_client.app.state.service.flush()  # decisions are logged in batches
    engine = sa.create_engine(pg_client.app.state.service.settings.database_url.get_secret_value())
    with engine.connect() as c:
        tenant = c.execute(sa.text("SELECT tenant_id FROM decisions WHERE id = :d"),
                           {"d": d["decision_id"]}).scalar()
    engine.dispose()
    assert tenant == "acme"


def test_keys_are_shown_once_and_stored_only_as_hashes(pg_client):
    r = pg_client.post("/v1/tenants/acme/keys", json={"name": "ci"}, headers=ADMIN)
    assert r.status_code == 201
    secret = r.json()["key"]
    listing = pg_client.get("/v1/tenants/acme/keys", headers=ADMIN).json()["keys"]
    assert all(secret not in str(k) for k in listing)
    engine = sa.create_engine(pg_client.app.state.service.settings.database_url.get_secret_value())
    with engine.connect() as c:
        dump = " ".join(str(row) for row in c.execute(sa.text("SELECT * FROM api_keys")))
    engine.dispose()
    assert secret not in dump
    assert hashlib.sha256(secret.encode()).hexdigest() in dump


def test_revocation_takes_effect_at_once(pg_client):
    issued = pg_client.post("/v1/tenants/acme/keys", headers=ADMIN).json()
    key = {"Authorization": f"Bearer {issued['key']}"}
    assert pg_client.post("/v1/route", json={"prompt": "x"}, headers=key).status_code == 200
    assert pg_client.delete(f"/v1/keys/{issued['id']}", headers=ADMIN).status_code == 204
    assert pg_client.post("/v1/route", json={"prompt": "x"}, headers=key).status_code == 401
    assert pg_client.delete(f"/v1/keys/{issued['id']}", headers=ADMIN).status_code == 404


def test_duplicate_tenant_is_409_and_unknown_tenant_is_404(pg_client):
    r = pg_client.post("/v1/tenants", json={"id": "acme", "name": "Again"}, headers=ADMIN)
    assert r.status_code == 409
    assert pg_client.post("/v1/tenants/nope/keys", headers=ADMIN).status_code == 404
    assert pg_client.put("/v1/tenants/nope/budget", json={"period": "day", "limit_usd": 1},
                         headers=ADMIN).status_code == 404


def test_stored_operator_keys_work_and_are_created_once(make_service, pg_url):
    from fastapi.testclient import TestClient

    from bandit_router.api.app import create_app

    svc = make_service(pg_url, TWO_MODELS)
    key = svc.ensure_operator_key()
    assert key is not None and svc.ensure_operator_key() is None
    with TestClient(create_app(service=svc)) as c:
        r = c.post("/v1/tenants", json={"name": "Initech"},
                   headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 201 and r.json()["id"].startswith("t_")


def test_a_revoked_key_is_refused_at_once_where_it_was_revoked_and_within_the_poll_interval_elsewhere(
        make_client, make_service, pg_url):
    poll_s = 1.0
    here = make_client(pg_url, TWO_MODELS, posterior_poll_s=poll_s)
    other_service = make_service(pg_url, admin_key=OPERATOR_KEY, posterior_poll_s=poll_s)
    with TestClient(create_app(service=other_service), raise_server_exceptions=False) as there:
        issued = here.post("/v1/tenants/acme/keys", headers=ADMIN).json()
        key = {"Authorization": f"Bearer {issued['key']}"}
        for app in (here, there):  # both processes have now confirmed (and cached) the key
            assert app.post("/v1/route", json={"prompt": "hi"}, headers=key).status_code == 200
        assert here.delete(f"/v1/keys/{issued['id']}", headers=ADMIN).status_code == 204
        revoked = time.monotonic()
        refused = here.post("/v1/route", json={"prompt": "hi"}, headers=key)
        assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
        while there.post("/v1/route", json={"prompt": "hi"}, headers=key).status_code == 200:
            assert time.monotonic() - revoked < poll_s + 0.5, "still accepted on the other process"
            time.sleep(0.05)
        assert there.get("/v1/models", headers=key).status_code == 401
        # A key that was never revoked keeps working on both.
        acme = {"Authorization": here.headers["authorization"]}
        for app in (here, there):
            assert app.post("/v1/route", json={"prompt": "hi"}, headers=acme).status_code == 200


def test_a_key_in_use_is_confirmed_again_before_its_cache_entry_expires(make_client, pg_url,
                                                                      monkeypatch):
    """Requests do not wait for the database when a busy key's cache entry would expire: it
    is confirmed again in the background once half the poll interval has passed. (A database
    made 0.3 s slow: a request that waited for it would take that long; a background look-up
    has half the 2 s interval to finish.)"""
    import asyncio

    poll_s = 2.0
    client = make_client(pg_url, TWO_MODELS, posterior_poll_s=poll_s)
    auth = client.app.state.service.auth
    secret = client.headers["authorization"].split(" ", 1)[1]
    looked_up = []
    real_lookup = auth._lookup

    async def slow_lookup(digest):
        looked_up.append(time.monotonic())
        await asyncio.sleep(0.3)
        return await real_lookup(digest)

    monkeypatch.setattr(auth, "_lookup", slow_lookup)

    async def scenario() -> list[float]:
        waits = []
        end = time.monotonic() + 3 * poll_s
        while time.monotonic() < end:  # a key in steady use, for three poll intervals
            start = time.monotonic()
            assert (await auth.authenticate(secret)) is not None
            waits.append(time.monotonic() - start)
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # let the last background look-up finish
        return waits

    waits = asyncio.run(scenario())
    assert len(looked_up) >= 3  # the key was confirmed again and again...
    assert max(waits[1:]) < 0.2  # ...but no request after the first waited for it


def test_requests_that_miss_the_cache_together_share_one_look_up(make_client, pg_url,
                                                                  monkeypatch):
    """A burst of requests with a key this process has not confirmed yet (a new key, or any
    key right after a start) makes one database look-up, not one per request; a request that
    gives up while waiting does not cancel it for the others; an unknown key is refused to
    each of them."""
    import asyncio

    client = make_client(pg_url, TWO_MODELS)
    auth = client.app.state.service.auth
    issued = client.post("/v1/tenants/acme/keys", headers=ADMIN).json()
    looked_up = []
    real_lookup = auth._lookup

    async def slow_lookup(digest):
        looked_up.append(digest)
        await asyncio.sleep(0.2)
        return await real_lookup(digest)

    monkeypatch.setattr(auth, "_lookup", slow_lookup)

    async def burst(secret: str) -> list:
        impatient = asyncio.ensure_future(auth.authenticate(secret))
        others = [asyncio.ensure_future(auth.authenticate(secret)) for _ in range(20)]
        await asyncio.sleep(0.05)
        impatient.cancel()
        return await asyncio.gather(*others)

    principals = asyncio.run(burst(issued["key"]))
    assert len(looked_up) == 1
    assert {p.key_id for p in principals} == {issued["id"]}
    looked_up.clear()
    assert asyncio.run(burst("br_not_a_key")) == [None] * 20
    assert len(looked_up) == 1

"""GET/PUT/DELETE /v1/models: operators change the line-up while the service runs."""

from __future__ import annotations


from tests.conftest import ADMIN, route

NEW = {"input_price_per_mtok": 0.5, "output_price_per_mtok": 1.5, "context_window": 32000,
       "tags": ["new"], "provider": "acme"}


def _train(client, n: int, reward_of: dict[str, float]) -> None:
    for i in range(n):
        d = route(client, f"question number {i} about topic {i % 7}")
        client.post("/v1/feedback", json={"decision_id": d["decision_id"],
                                          "reward": reward_of[d["model"]]})
    assert client.post("/v1/admin/refit", headers=ADMIN).status_code == 200


def test_list_shows_registered_models(client):
    models = client.get("/v1/models").json()["models"]
    assert [m["id"] for m in models] == ["model-a", "model-b"]
    assert models[0]["context_window"] == 100_000


def test_put_registers_then_updates(client):
    r = client.put("/v1/models/acme-1", json=NEW, headers=ADMIN)
    assert r.status_code == 201 and r.json()["provider"] == "acme"
    r = client.put("/v1/models/acme-1", json={**NEW, "input_price_per_mtok": 0.4}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["input_price_per_mtok"] == 0.4
    assert "acme-1" in [m["id"] for m in client.get("/v1/models").json()["models"]]


def test_model_ids_with_slashes_work(client):
    r = client.put("/v1/models/mistralai/Mixtral-8x7B", json=NEW, headers=ADMIN)
    assert r.status_code == 201
    assert client.get("/v1/models/mistralai/Mixtral-8x7B").json()["id"] == "mistralai/Mixtral-8x7B"


def test_put_validates_prices_and_window(client):
    for bad in ({**NEW, "input_price_per_mtok": -1}, {**NEW, "context_window": 0},
                {k: v for k, v in NEW.items() if k != "context_window"},
                {**NEW, "base_url": "file:///etc/passwd"}):
        r = client.put("/v1/models/x", json=bad, headers=ADMIN)
        assert r.status_code == 422, bad


def test_a_removed_model_is_never_routed_to_again(client):
    assert client.delete("/v1/models/model-a", headers=ADMIN).status_code == 204
    assert {route(client, f"p{i}")["model"] for i in range(100)} == {"model-b"}
    r = client.post("/v1/route", json={"prompt": "x", "candidates": ["model-a"]})
    assert r.status_code == 422
    assert client.delete("/v1/models/model-a", headers=ADMIN).status_code == 404
    assert "model-a" not in [m["id"] for m in client.get("/v1/models").json()["models"]]


def test_a_new_model_starts_optimistic_and_gets_explored(client):
    _train(client, 150, {"model-a": 0.5, "model-b": 0.4})
    client.put("/v1/models/fresh", json=NEW, headers=ADMIN)
    picks = [route(client, f"another question {i}")["model"] for i in range(100)]
    # An untried model is predicted to earn the optimistic prior (1.0): it must be tried a lot.
    assert picks.count("fresh") >= 30, picks.count("fresh")
    observations = {m["id"]: m["observations"] for m in client.get("/v1/models").json()["models"]}
    assert observations["fresh"] == 0 and observations["model-a"] > 0


def test_unknown_model_is_404(client):
    assert client.get("/v1/models/nope").status_code == 404
    assert client.delete("/v1/models/nope", headers=ADMIN).status_code == 404


def test_patch_changes_only_the_fields_given(client):
    full = {**NEW, "base_url": "http://127.0.0.1:9/v1", "upstream_model": "up-1",
            "api_key_env": "ACME_API_KEY", "typical_latency_ms": 400.0}
    assert client.put("/v1/models/acme-1", json=full, headers=ADMIN).status_code == 201
    r = client.patch("/v1/models/acme-1", json={"input_price_per_mtok": 0.25}, headers=ADMIN)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["input_price_per_mtok"] == 0.25
    assert (got["provider"], got["base_url"], got["upstream_model"], got["tags"]) == (
        "acme", "http://127.0.0.1:9/v1", "up-1", ["new"])
    spec = client.app.state.service.router.models["acme-1"]  # what the router now uses
    assert spec.input_price_per_mtok == 0.25 and spec.api_key_env == "ACME_API_KEY"
    # null clears an optional field; the others still stay.
    got = client.patch("/v1/models/acme-1", json={"provider": None}, headers=ADMIN).json()
    assert got["provider"] is None and got["upstream_model"] == "up-1"


def test_put_replaces_the_whole_model_as_documented(client):
    # PUT is a full replacement: an optional field left out is cleared (PATCH keeps it).
    assert client.put("/v1/models/acme-1", json=NEW, headers=ADMIN).json()["provider"] == "acme"
    without = {k: v for k, v in NEW.items() if k != "provider"}
    assert client.put("/v1/models/acme-1", json=without, headers=ADMIN).json()["provider"] is None


def test_patch_validates_and_needs_a_registered_model(client):
    assert client.patch("/v1/models/nope", json={"provider": "x"}, headers=ADMIN
                        ).status_code == 404
    for bad in ({"context_window": 0}, {"base_url": "file:///etc/passwd"},
                {"upstream_modle": "x"}, {"input_price_per_mtok": None}):
        r = client.patch("/v1/models/model-a", json=bad, headers=ADMIN)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["detail"]
    assert client.patch("/v1/models/model-a", json={"provider": "x"}).status_code == 403
    assert client.get("/v1/models/model-a").json()["provider"] is None  # nothing changed

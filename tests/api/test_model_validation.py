"""What an operator may register: a model's id names a model, its base_url is an HTTP(S)
address, and its api_key_env names a key variable, never one of the service's own settings
(whose values — the database URL with its password, the operator key — would otherwise be
sent upstream as a Bearer token). Refused in the models file and in PUT /v1/models alike."""

from __future__ import annotations

import pytest

from bandit_router.routing.catalog import CatalogError, load_catalog
from tests.conftest import ADMIN, TWO_MODELS

NEW = {"input_price_per_mtok": 0.5, "output_price_per_mtok": 1.5, "context_window": 32000}


@pytest.fixture
def client(make_client, pg_url):
    return make_client(pg_url, TWO_MODELS)


@pytest.mark.parametrize("env,why", [
    ("BANDIT_ROUTER_DATABASE_URL", "own settings"),
    ("BANDIT_ROUTER_ADMIN_KEY", "own settings"),
    ("HOME", "not an allowed key variable"),
    ("PGPASSWORD", "not an allowed key variable"),
])
def test_put_refuses_an_api_key_env_that_is_not_an_upstream_key(client, env, why):
    r = client.put("/v1/models/leaky", json={**NEW, "base_url": "https://example.com/v1",
                                             "api_key_env": env}, headers=ADMIN)
    assert r.status_code == 422, r.text
    assert why in r.json()["detail"] and env in r.json()["detail"]
    assert client.get("/v1/models/leaky").status_code == 404


def test_put_accepts_the_usual_key_variables(client):
    for env in ("OPENAI_API_KEY", "TOGETHER_API_TOKEN"):
        r = client.put("/v1/models/ok", json={**NEW, "api_key_env": env}, headers=ADMIN)
        assert r.status_code in (200, 201), r.text


def test_the_operator_chooses_which_key_variables_are_allowed(make_client, pg_url):
    client = make_client(pg_url, TWO_MODELS, upstream_key_env_allow="VAULT_*")
    ok = client.put("/v1/models/m", json={**NEW, "api_key_env": "VAULT_LLM"}, headers=ADMIN)
    assert ok.status_code == 201, ok.text
    no = client.put("/v1/models/m", json={**NEW, "api_key_env": "OPENAI_API_KEY"}, headers=ADMIN)
    assert no.status_code == 422 and "VAULT_*" in no.json()["detail"]
    own = client.put("/v1/models/m", json={**NEW, "api_key_env": "BANDIT_ROUTER_ADMIN_KEY"},
                     headers=ADMIN)
    assert own.status_code == 422  # even when no pattern forbids it


def test_the_models_file_refuses_a_setting_of_the_service(make_service, pg_url, tmp_path):
    path = tmp_path / "models.toml"
    path.write_text('[[models]]\nid = "m"\ninput_price_per_mtok = 1\noutput_price_per_mtok = 1\n'
                    'context_window = 1000\nbase_url = "https://example.com/v1"\n'
                    'api_key_env = "BANDIT_ROUTER_DATABASE_URL"\n')
    with pytest.raises(CatalogError, match="own settings"):
        make_service(pg_url, models=load_catalog(path))


@pytest.mark.parametrize("url,message", [
    ("HTTP://example.com/v1", None),  # schemes are case-insensitive: accepted, lower-cased
    ("api.openai.com/v1", "has no scheme"),
    ("ftp://example.com", "must start with http:// or https://"),
    ("https://", "has no host"),
    ("https://user:secret@example.com/v1", "credentials"),
])
def test_base_url_is_checked_with_a_message_saying_why(client, url, message):
    r = client.put("/v1/models/u", json={**NEW, "base_url": url}, headers=ADMIN)
    if message is None:
        assert r.status_code == 201, r.text
        assert r.json()["base_url"] == "http://example.com/v1"
    else:
        assert r.status_code == 422, r.text
        assert message in r.json()["detail"]


def test_url_shaped_model_ids_are_refused(client, make_service, pg_url, tmp_path):
    r = client.put("/v1/models/https://evil.example/v1", json=NEW, headers=ADMIN)
    assert r.status_code == 422 and "looks like a URL" in r.json()["detail"], r.text
    path = tmp_path / "models.toml"
    path.write_text('[[models]]\nid = "http://x.example"\ninput_price_per_mtok = 1\n'
                    'output_price_per_mtok = 1\ncontext_window = 1000\n')
    with pytest.raises(CatalogError, match="looks like a URL"):
        make_service(pg_url, models=load_catalog(path))
    # Ids with a slash are still fine.
    assert client.put("/v1/models/mistralai/Mixtral-8x7B", json=NEW,
                      headers=ADMIN).status_code == 201

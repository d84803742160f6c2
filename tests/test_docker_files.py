"""The Dockerfile and compose file keep the promises the README makes about them (issue 20,
item 10). `docker compose up` itself was tried by hand (README, "Docker"): CI has no daemon."""

from __future__ import annotations

import re

import yaml

from tests.conftest import ROOT


def test_compose_publishes_on_loopback_only_and_takes_its_secrets_from_the_environment():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    router = compose["services"]["router"]
    assert all(p.startswith("127.0.0.1:") for p in router["ports"]), router["ports"]
    env = router["environment"]
    assert env["BANDIT_ROUTER_ADMIN_KEY"].startswith("${BANDIT_ROUTER_ADMIN_KEY:-")
    assert "${POSTGRES_PASSWORD:-" in env["BANDIT_ROUTER_DATABASE_URL"]
    pg = compose["services"]["postgres"]
    assert pg["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:-")
    assert "ports" not in pg  # the database is reachable from the router only
    assert "BANDIT_ROUTER_MODELS_FILE" not in env


def test_the_image_asks_its_configured_port_and_registers_no_line_up_by_itself():
    dockerfile = (ROOT / "Dockerfile").read_text()
    health = dockerfile[dockerfile.index("HEALTHCHECK"):]
    health = health[:health.index("\nCMD")]
    assert "Settings().port" in health and "8000" not in health
    env = re.findall(r"^ENV (.*?)(?<!\\)$", dockerfile, re.M | re.S)
    assert env and not any("MODELS_FILE" in e for e in env)
    assert re.search(r"^ARG BASE_IMAGE=", dockerfile, re.M)

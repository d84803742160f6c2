"""Advisory locks: each lock has its own number, and holding one never blocks another's users."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import sqlalchemy as sa

import bandit_router
from bandit_router.store import locks
from bandit_router.store.locks import OPERATOR_KEY_LOCK, exclusive_xact_lock
from tests.conftest import TWO_MODELS, route

SRC = Path(bandit_router.__file__).resolve().parent


def test_every_lock_has_its_own_number():
    numbers = {name: value for name, value in vars(locks).items() if name.endswith("_LOCK")}
    assert {"MIGRATION_LOCK", "FEEDBACK_LOCK", "REFIT_LOCK", "MODELS_LOCK",
            "OPERATOR_KEY_LOCK"} <= set(numbers)
    assert len(set(numbers.values())) == len(numbers), numbers


def test_lock_numbers_are_written_only_in_locks_py():
    for path in SRC.rglob("*.py"):
        if path.name == "locks.py":
            continue
        text = path.read_text()
        assert not re.search(r"pg_(try_)?advisory", text), f"{path} takes a lock by number"


def test_issuing_an_operator_key_does_not_block_feedback(make_client, pg_url):
    client = make_client(pg_url, TWO_MODELS)
    decision = route(client)
    engine = sa.create_engine(pg_url)
    answers = []
    try:
        with engine.connect() as conn, conn.begin():
            # What ensure_operator_key holds while it issues a key.
            exclusive_xact_lock(conn, OPERATOR_KEY_LOCK)
            post = threading.Thread(target=lambda: answers.append(client.post(
                "/v1/feedback", json={"decision_id": decision["decision_id"], "reward": 1})))
            post.start()
            post.join(timeout=10)
            assert not post.is_alive(), "feedback waited for the operator key's lock"
    finally:
        engine.dispose()
    post.join()
    assert answers[0].status_code == 201

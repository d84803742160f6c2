"""Advisory locks: each lock has its own number, and holding one never blocks another's users."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import sqlalchemy as sa

import bandit_router
from bandit_router.store import locks
from bandit_router.store.decisions import decisions_to_settle
from bandit_router.store.locks import FEEDBACK_LOCK, OPERATOR_KEY_LOCK, exclusive_xact_lock
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


def test_feedback_takes_the_refit_lock_before_it_draws_an_id(make_client, pg_url):
    # The refit reads its high-water mark holding FEEDBACK_LOCK exclusively (locks.py): a
    # feedback commit must not draw a feedback id meanwhile, or the id could be under the mark
    # while its row is not yet committed, and the refit that resumes from the mark skip it.
    client = make_client(pg_url, TWO_MODELS)
    decision = route(client)
    engine = sa.create_engine(pg_url)
    answers, post = [], None
    try:
        with engine.connect() as conn, conn.begin():
            seq = conn.scalar(sa.text("SELECT pg_get_serial_sequence('feedback', 'id')"))
            drawn = conn.execute(sa.text(f"SELECT last_value, is_called FROM {seq}")).one()
            exclusive_xact_lock(conn, FEEDBACK_LOCK)  # what the refit holds for its mark
            post = threading.Thread(target=lambda: answers.append(client.post(
                "/v1/feedback", json={"decision_id": decision["decision_id"], "reward": 1})))
            post.start()
            post.join(timeout=1.5)
            assert post.is_alive(), "feedback was committed while the refit held its lock"
            with engine.connect() as other:  # (its own snapshot: the sequence is not MVCC)
                assert other.execute(sa.text(
                    f"SELECT last_value, is_called FROM {seq}")).one() == drawn
    finally:
        if post is not None:
            post.join(timeout=10)
        engine.dispose()
    assert answers and answers[0].status_code == 201


def test_the_lock_condition_takes_the_lock_even_when_the_query_finds_nothing(pg_url):
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn, conn.begin():
            assert decisions_to_settle(conn, ["d-none"], FEEDBACK_LOCK) == []
            held = conn.execute(sa.text(
                "SELECT mode FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = pg_backend_pid() AND (classid::bigint << 32 | objid::bigint) = :k"),
                {"k": FEEDBACK_LOCK}).scalars().all()
            assert held == ["ShareLock"]
    finally:
        engine.dispose()

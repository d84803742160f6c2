"""An ACCESS EXCLUSIVE lock on ``decisions`` (a migration, a VACUUM FULL, an operator's
mistake) and a Postgres outage, under route + feedback load:

- every feedback is answered within BANDIT_ROUTER_FEEDBACK_WAIT_S (5 s, the documented
  default): 2xx when committed, else 503 with Retry-After — never as long as the lock lasts;
- nothing is lost: every 2xx is in the database, and every 503'd feedback, retried, is then
  recorded exactly once;
- with two workers, feedback that reaches the worker which did not route its decision, before
  the routing worker has written it, is never answered 404 (the README's "unknown decision",
  after which a client drops the reward).
"""

from __future__ import annotations

import threading
import time

import httpx
import sqlalchemy as sa

from tests.conftest import TableLock
from tests.faults.conftest import ADMIN

FEEDBACK_WAIT_S = 5.0  # the documented default, which the servers below keep
# Scheduling on a loaded 2-core machine: 6.55 s was seen once at load 8 (2026-12-07). Still
# far below what a wait that ignored the bound would take (the 15 s lock).
SLACK_S = 2.0


def Lock(url: str) -> TableLock:
    return TableLock(url, "decisions", "ACCESS EXCLUSIVE")


def _stored(url: str) -> tuple[set[str], list[str]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            decisions = set(conn.execute(sa.text("SELECT id FROM decisions")).scalars())
            feedback = list(conn.execute(sa.text("SELECT decision_id FROM feedback")).scalars())
    finally:
        engine.dispose()
    return decisions, feedback


class Load:
    """Threads that route on ``base`` and post the feedback on new connections to each of
    ``feedback_to`` in turn (default: ``base``), recording every feedback answer with its
    time; a 503 is retried after its Retry-After, as a client would, until it is a 2xx (or
    anything else, which the test then reports)."""

    def __init__(self, base: str, key: dict, threads: int = 4,
                 feedback_to: list[str] | None = None) -> None:
        self.base, self.key = base, key
        self.feedback_to = feedback_to or [base]
        self.stop = threading.Event()
        self.answers: list[tuple[str, int, float, float, str | None]] = []  # id, status, t, s
        self.acked: dict[str, int] = {}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def __enter__(self) -> "Load":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(120)

    def _run(self, n: int) -> None:
        with httpx.Client(base_url=self.base, headers=self.key, timeout=60) as router:
            i = 0
            while not self.stop.is_set():
                i += 1
                r = router.post("/v1/route", json={"prompt": f"worker {n} question {i}"})
                assert r.status_code == 200, r.text
                self._report(r.json()["decision_id"], self.feedback_to[i % len(self.feedback_to)])
                time.sleep(0.02)

    def _report(self, decision_id: str, base: str) -> None:
        while True:
            start = time.monotonic()
            try:  # a new connection each time: any worker may take it
                f = httpx.post(base + "/v1/feedback", headers=self.key, timeout=60,
                               json={"decision_id": decision_id, "reward": 1.0})
            except httpx.HTTPError as exc:
                with self.lock:
                    self.answers.append((decision_id, -1, start, time.monotonic() - start,
                                         type(exc).__name__))
                return
            took = time.monotonic() - start
            with self.lock:
                self.answers.append((decision_id, f.status_code, start, took,
                                     f.headers.get("retry-after")))
                if f.status_code in (200, 201):
                    self.acked.setdefault(decision_id, f.json()["feedback_id"])
            if f.status_code != 503:
                return
            time.sleep(float(f.headers["retry-after"]))


def test_feedback_is_answered_within_the_documented_wait_during_a_15_s_lock(pg_url,
                                                                           make_server):
    server = make_server(pg_url, workers=2)
    server.start()
    key = server.app_key()
    with Load(server.base, key) as load:
        time.sleep(2.0)
        lock = Lock(pg_url)
        locked_at = time.monotonic()
        try:
            time.sleep(15.0)
        finally:
            lock.release()
            released_at = time.monotonic()
        time.sleep(FEEDBACK_WAIT_S + 3.0)  # the retries after the lock go through

    slowest = max(a[3] for a in load.answers)
    assert slowest <= FEEDBACK_WAIT_S + SLACK_S, sorted(a[3] for a in load.answers)[-10:]
    during = [a for a in load.answers if locked_at <= a[2] <= released_at]
    assert len(during) >= 8, "too little feedback was posted during the lock"
    statuses = {a[1] for a in load.answers}
    assert statuses <= {200, 201, 503}, statuses
    assert all(a[4] for a in load.answers if a[1] == 503)  # each 503 says when to retry
    assert any(a[1] == 503 for a in during), "the lock did not hold feedback up"
    # Nothing lost, nothing twice: every feedback a client sent ended acknowledged, once.
    decisions, feedback = _stored(pg_url)
    sent = {a[0] for a in load.answers}
    assert set(load.acked) == sent
    assert sorted(feedback) == sorted(set(feedback)) and set(feedback) == sent
    times = sorted(a[3] for a in during)
    print(f"\nfeedback answers: {len(load.answers)}; posted during the lock: {len(during)}, "
          f"answer time median {times[len(times) // 2]:.2f} s, slowest {times[-1]:.2f} s; "
          f"slowest overall {slowest:.2f} s; 503s {sum(a[1] == 503 for a in load.answers)}")


def test_no_feedback_is_answered_404_for_a_decision_another_process_routed(cluster,
                                                                          make_server):
    """Over a 15 s lock and then an 8 s outage. Decisions are routed by a server with two
    workers; their feedback goes to it (either worker) or to a second server (another
    replica), which never holds them in its buffer."""
    server = make_server(cluster.url, workers=2, posterior_poll_s=0.5)
    server.start()
    other = make_server(cluster.url, posterior_poll_s=0.5)
    other.start()
    key = server.app_key()
    with Load(server.base, key, threads=6, feedback_to=[server.base, other.base]) as load:
        time.sleep(2.0)
        lock = Lock(cluster.url)
        try:
            time.sleep(15.0)
        finally:
            lock.release()
        time.sleep(2.0)
        cluster.stop()
        time.sleep(8.0)
        cluster.start()
        time.sleep(FEEDBACK_WAIT_S + 5.0)
    not_found = [a for a in load.answers if a[1] == 404]
    assert not not_found, f"{len(not_found)} false 404s: {not_found[:5]}"
    assert {a[1] for a in load.answers} <= {200, 201, 503}, {a[1] for a in load.answers}
    decisions, feedback = _stored(cluster.url)
    sent = {a[0] for a in load.answers}
    assert sent <= decisions
    assert set(load.acked) == sent and sorted(set(feedback)) == sorted(feedback)
    assert set(feedback) == sent
    print(f"\nfeedback answers: {len(load.answers)}, 404s: 0, "
          f"503s {sum(a[1] == 503 for a in load.answers)}")


def test_feedback_right_after_an_outage_is_never_404_while_the_router_has_not_written(
        cluster, make_server):
    """The chaos run's false 404s, made deterministic: decisions routed during an outage wait
    in the routing server's writer, which is still backing off when Postgres returns; their
    feedback reaches another server at once, which finds no row yet."""
    router = make_server(cluster.url, workers=2, writer_retry_max_s=3)
    router.start()
    other = make_server(cluster.url)
    other.start()
    key = ADMIN  # checked without the database, so it works during the outage
    cluster.stop()
    with httpx.Client(base_url=router.base, headers=key, timeout=30) as c:
        routed = [c.post("/v1/route", json={"prompt": f"during the outage {i}"})
                  for i in range(20)]
    assert all(r.status_code == 200 for r in routed)
    time.sleep(4.0)  # the writers' backoff has grown to its longest
    cluster.start()
    deadline = time.monotonic() + 30
    while httpx.get(other.base + "/readyz").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    answers: list = []

    def post(decision_id: str) -> None:
        start = time.monotonic()
        f = httpx.post(other.base + "/v1/feedback", headers=key, timeout=30,
                       json={"decision_id": decision_id, "reward": 1.0})
        answers.append((decision_id, f.status_code, time.monotonic() - start))

    threads = [threading.Thread(target=post, args=(r.json()["decision_id"],)) for r in routed]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(a[1] for a in answers)
    print(f"\nfeedback right after the outage: {statuses.count(404)} 404s, "
          f"{statuses.count(201)} 201s, {statuses.count(503)} 503s; slowest "
          f"{max(a[2] for a in answers):.2f} s")
    assert 404 not in statuses, answers
    assert set(statuses) <= {201, 503}
    assert max(a[2] for a in answers) <= FEEDBACK_WAIT_S + SLACK_S

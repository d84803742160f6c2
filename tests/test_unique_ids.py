"""Made-up ids (request ids, decisions a library caller did not name) never repeat: not across
calls, not across a fork."""

from __future__ import annotations

import os
import uuid

from bandit_router.unique_ids import new_id
from tests.conftest import TWO_MODELS


def test_a_forked_process_does_not_repeat_its_parents_ids():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, then leave without running pytest's exit
        os.write(write, " ".join(new_id() for _ in range(3)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 4096).decode().split()
    os.close(read)
    parent = [new_id() for _ in range(3)]
    assert len(child) == 3 and not set(child) & set(parent)
    assert {c[:24] for c in child} != {p[:24] for p in parent}  # another random prefix


def test_requests_without_an_id_get_distinct_uuids_and_a_given_id_is_echoed(make_client,
                                                                            sqlite_url):
    client = make_client(sqlite_url, TWO_MODELS)
    made = [client.get("/healthz").headers["x-request-id"] for _ in range(20)]
    given = client.get("/healthz", headers={"X-Request-ID": "trace-42"})
    assert len(set(made)) == 20
    for rid in made:
        assert uuid.UUID(rid).hex == rid and uuid.UUID(rid).version == 4
    assert given.headers["x-request-id"] == "trace-42"

"""Several workers starting together on a new database all come up: registering the models
file is serialised (it used to fail one worker's start-up, and uvicorn then stopped the
whole server a few seconds after it had answered /readyz)."""

from __future__ import annotations

import time

import httpx


def test_two_workers_start_together_on_a_new_database_and_stay_up(pg_url, make_server):
    server = make_server(pg_url, workers=2)
    server.start()
    key = server.app_key()
    time.sleep(3.0)  # a failed sibling worker stops the parent within seconds
    assert server.proc.poll() is None, server.log.read_text()[-3000:]
    with httpx.Client(base_url=server.base, headers=key, timeout=10) as c:
        for i in range(20):
            assert c.post("/v1/route", json={"prompt": f"q {i}"}).status_code == 200
    assert httpx.get(server.base + "/readyz", timeout=10).status_code == 200


def test_workers_registering_the_same_models_at_once_both_succeed(make_service, pg_url):
    import threading

    from bandit_router.routing.catalog import ModelSpec

    a, b = make_service(pg_url), make_service(pg_url)
    for round_ in range(5):
        specs = [ModelSpec(id=f"m{round_}-{i}", input_price_per_mtok=1.0,
                           output_price_per_mtok=2.0, context_window=8000) for i in range(20)]
        barrier, errors = threading.Barrier(2), []

        def register(svc):
            barrier.wait()
            try:
                svc.register_models(specs)
            except Exception as exc:  # noqa: BLE001 - the test reports it
                errors.append(exc)

        threads = [threading.Thread(target=register, args=(s,)) for s in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == []

"""proxy/records.py: usage rows are committed in groups, off the answer's path, none lost."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from bandit_router.proxy.records import Records
from bandit_router.store.schema import UsageRow


def _row(i: int) -> dict:
    return dict(decision_id=f"decision-{i}", recorded_at=datetime.now(timezone.utc),
                model_id="model-a", status="ok", error=None, latency_ms=1.0, input_tokens=3,
                output_tokens=5, cost_usd=0.0, attempts=[{"model": "model-a", "status": 200}])


def test_rows_that_come_one_by_one_within_the_linger_are_committed_together(make_service,
                                                                           pg_url):
    """At one connection calls come one at a time; a commit for each cost more CPU than the
    rest of the writer's work (see the module's docstring)."""
    svc = make_service(pg_url)
    records = Records(svc.sessions, linger_s=1.0)
    batches: list[int] = []
    write = records._write
    records._write = lambda batch: (batches.append(len(batch)), write(batch))[1]

    async def calls() -> None:
        for i in range(10):
            await records.usage(_row(i))
            await asyncio.sleep(0)  # the writer runs in between, as it would between calls
        assert await records.recorded("decision-9")
        await records.aclose()

    asyncio.run(calls())
    assert batches == [10]
    with svc.sessions() as s:
        assert s.query(UsageRow).count() == 10


def test_closing_commits_what_is_still_lingering(make_service, pg_url):
    svc = make_service(pg_url)
    records = Records(svc.sessions, linger_s=60.0)

    async def calls() -> None:
        await records.usage(_row(0))
        await asyncio.sleep(0)
        await records.aclose(timeout_s=10.0)

    asyncio.run(calls())
    assert records.lost == 0
    with svc.sessions() as s:
        assert s.query(UsageRow).count() == 1

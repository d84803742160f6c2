"""``bandit-router export``: stream decisions of a period into a Parquet archive
(:mod:`bandit_router.ope.archive`), in chunks, with a progress bar."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class ExportResult:
    path: Path
    rows: int
    posteriors: int  # posterior payloads written beside it


def export_decisions(engine: Engine, since: datetime | None, until: datetime | None,
                     out: str | Path, *, tenant_id: str | None = None, chunk: int = 10_000,
                     progress: bool = True) -> ExportResult:
    from tqdm import tqdm

    from bandit_router.ope.archive import ArchiveWriter
    from bandit_router.ope.sources import resolve_versions
    from bandit_router.store.logged import (archive_chunks, count_decisions,
                                            posterior_payloads, posterior_versions)

    with Session(engine) as s:
        total = count_decisions(s, since=since, until=until, tenant_id=tenant_id)
        stored = list(posterior_versions(s))
    by_dim: dict[int, list] = {}
    for v in stored:
        by_dim.setdefault(int(v.feature_dim), []).append(v)
    needed: set[int] = set()
    writer = ArchiveWriter(out)
    try:
        with tqdm(total=total, unit="decision", disable=not progress, desc="export") as bar:
            for rows in archive_chunks(engine, since=since, until=until, tenant_id=tenant_id,
                                       chunk=chunk):
                writer.write(rows)
                for versions in by_dim.values():  # what evaluation will look up
                    needed.update(int(v) for v in resolve_versions(rows, versions))
                bar.update(len(rows))
        with Session(engine) as s:
            payloads = list(posterior_payloads(s, needed - {0}))
            writer.close(stored, payloads)
    except BaseException:
        writer.abort()
        raise
    return ExportResult(Path(out), writer.rows, len(payloads))

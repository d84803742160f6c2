"""The decision-log archive: Parquet files of logged decisions, as ``bandit-router export``
writes them and ``bandit-router evaluate --log FILE.parquet`` reads them.

``FILE.parquet`` holds one row per decision (``COLUMNS``: its propensity, features,
candidates and per-candidate scores, its feedback and the proxy's usage; JSON values as JSON
text, times in UTC). ``FILE.posteriors.parquet`` beside it holds the stored posterior
versions (version, created_at, feature_dim) and the payload of every version the archived
decisions were routed with, so that evaluating the archive needs no database and gives the
estimates that evaluating the same decisions in the database gives.
"""

from __future__ import annotations

import json
import os
from collections import namedtuple
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bandit_router.ope.data import LogError

_TS = pa.timestamp("us", tz="UTC")
COLUMNS = pa.schema([
    ("id", pa.string()), ("created_at", _TS), ("model_id", pa.string()),
    ("propensity", pa.float64()), ("policy", pa.string()), ("policy_version", pa.int64()),
    ("cost_weight", pa.float64()), ("features", pa.binary()), ("candidates", pa.string()),
    ("scores", pa.string()), ("estimated_cost_usd", pa.float64()),
    ("has_feedback", pa.bool_()), ("reward", pa.float64()), ("error", pa.string()),
    ("feedback_cost_usd", pa.float64()), ("usage_cost_usd", pa.float64()),
    ("tenant_id", pa.string()), ("input_tokens_est", pa.int64()),
    ("output_tokens_est", pa.int64()), ("metadata", pa.string()),
    ("budget_period_start", _TS), ("feedback_id", pa.int64()), ("received_at", _TS),
    ("origin", pa.string()), ("feedback_input_tokens", pa.int64()),
    ("feedback_output_tokens", pa.int64()), ("feedback_latency_ms", pa.float64()),
    ("charged_usd", pa.float64()), ("usage_model_id", pa.string()),
    ("usage_status", pa.string()), ("usage_input_tokens", pa.int64()),
    ("usage_output_tokens", pa.int64()), ("usage_latency_ms", pa.float64()),
    ("usage_error", pa.string()),
])
_JSON = {"candidates", "scores", "metadata"}
_TIMES = {"created_at", "budget_period_start", "received_at"}
POSTERIORS = pa.schema([("version", pa.int64()), ("created_at", _TS),
                        ("feature_dim", pa.int64()), ("payload", pa.binary())])
# What evaluation reads of an archived decision (the attributes of store.logged's rows).
OPE_FIELDS = ("id", "created_at", "model_id", "propensity", "policy", "policy_version",
              "cost_weight", "features", "candidates", "scores", "estimated_cost_usd",
              "has_feedback", "reward", "error", "feedback_cost_usd", "usage_cost_usd")
LoggedRow = namedtuple("LoggedRow", OPE_FIELDS)
StoredVersion = namedtuple("StoredVersion", "version created_at feature_dim")


def posteriors_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.stem + ".posteriors.parquet")


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


def to_table(rows) -> pa.Table:
    """Rows with the archive's columns (``store.logged.ARCHIVE_COLUMNS``) as a Parquet table."""
    cols = {}
    for name in COLUMNS.names:
        values = [getattr(r, name) for r in rows]
        if name in _JSON:
            values = [None if v is None else json.dumps(v, sort_keys=True) for v in values]
        elif name in _TIMES:
            values = [_utc(v) for v in values]
        elif name == "features":
            values = [bytes(v) for v in values]
        cols[name] = values
    return pa.Table.from_pydict(cols, schema=COLUMNS)


class ArchiveWriter:
    """Writes an archive atomically: ``FILE.parquet`` appears only when complete."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._partial = self.path.with_name(self.path.name + ".partial")
        self._writer = pq.ParquetWriter(self._partial, COLUMNS, compression="zstd")
        self.rows = 0

    def write(self, rows) -> None:
        table = to_table(rows)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self, versions: Iterable, payloads: Iterable) -> None:
        """Finish with the stored versions (all of them) and the payloads the rows need."""
        self._writer.close()
        got = {int(p.version): bytes(p.payload) for p in payloads}
        versions = sorted(versions, key=lambda v: v.version)
        table = pa.Table.from_pydict({
            "version": [int(v.version) for v in versions],
            "created_at": [_utc(v.created_at) for v in versions],
            "feature_dim": [int(v.feature_dim) for v in versions],
            "payload": [got.get(int(v.version)) for v in versions],
        }, schema=POSTERIORS)
        side = posteriors_path(self.path)
        pq.write_table(table, side.with_name(side.name + ".partial"), compression="zstd")
        os.replace(side.with_name(side.name + ".partial"), side)
        os.replace(self._partial, self.path)

    def abort(self) -> None:
        self._writer.close()
        self._partial.unlink(missing_ok=True)


def read_archive(path: str | Path, *, since: datetime | None = None,
                 until: datetime | None = None, tenant_id: str | None = None,
                 limit: int | None = None):
    """``(rows, stored_versions, payload)`` of an archive, as :func:`ope.sources.from_rows`
    takes them; the same selection as evaluating the database with these filters."""
    path = Path(path)
    try:
        table = pq.read_table(path, columns=list(OPE_FIELDS) + ["tenant_id"])
        side = pq.read_table(posteriors_path(path))
    except FileNotFoundError as exc:
        raise LogError(f"{exc.filename} does not exist (an archive is FILE.parquet with "
                       "FILE.posteriors.parquet beside it)") from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise LogError(f"{path} is not a bandit-router archive: {exc}") from None
    if since is not None:
        table = table.filter(pc.greater_equal(table["created_at"], pa.scalar(_utc(since), _TS)))
    if until is not None:
        table = table.filter(pc.less(table["created_at"], pa.scalar(_utc(until), _TS)))
    if tenant_id is not None:
        table = table.filter(pc.equal(table["tenant_id"], tenant_id))
    if limit is not None:
        table = table.slice(max(table.num_rows - limit, 0))
    rows = list(_rows(table))
    versions = [StoredVersion(v, t, d) for v, t, d in zip(
        side["version"].to_pylist(), side["created_at"].to_pylist(),
        side["feature_dim"].to_pylist())]
    payloads = dict(zip(side["version"].to_pylist(), side["payload"].to_pylist()))

    def payload(version: int) -> bytes:
        found = payloads.get(version)
        if found is None:
            raise LogError(f"the archive lacks posterior version {version}")
        return found

    return rows, versions, payload


def _rows(table: pa.Table) -> Iterator[LoggedRow]:
    for batch in table.to_batches(max_chunksize=50_000):
        cols = {name: batch.column(name).to_pylist() for name in OPE_FIELDS}
        for i in range(batch.num_rows):
            values = {name: cols[name][i] for name in OPE_FIELDS}
            for name in ("candidates", "scores"):
                if values[name] is not None:
                    values[name] = json.loads(values[name])
            yield LoggedRow(**values)

"""Which processes took the CPU, second by second, beside a benchmark's per-second p99.

    python -m benchmarks.procs record OUT.jsonl &    # every 0.25 s: CPU seconds by kind of process
    python -m benchmarks http --seconds 30 --lag; kill %1
    python -m benchmarks.procs show OUT.jsonl benchmarks/results/http.json [--phase 2]

``show`` prints, for each second of an open-loop phase, its p99 beside the CPU (in cores) of
the kinds of process that used most: the server's workers, Postgres's client backends (the
queries of the server, the refit process and the load generator's checks), its autovacuum,
checkpointer and writers, the refit process, the load generator and the rest. It is how the
2026-12-07 stalls of the last open-loop phases were traced to one query (benchmarks/README.md,
"ninth session"). Times are ``time.monotonic()``, which the load generator's phase
``started_at`` (``perf_counter``) shares on Linux.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from benchmarks.http import cpu_seconds

_PG_KINDS = ("autovacuum", "checkpointer", "walwriter", "background writer", "wal writer")


def _kind(cmdline: str) -> str:
    if cmdline.startswith("postgres:"):
        return next((f"pg:{k}" for k in _PG_KINDS if k in cmdline), "pg:backend")
    for needle, kind in (("refit", "refit"), ("loadgen", "loadgen"),
                         ("benchmarks.procs", "sampler"), ("uvicorn", "server"),
                         ("bandit_router.cli serve", "server"), ("multiprocessing", "server")):
        if needle in cmdline:
            return kind
    return "other"


def _snapshot() -> dict[int, tuple[float, str]]:
    """Every process's CPU seconds so far and its kind."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        out[int(pid)] = (cpu_seconds([int(pid)]), _kind(cmd))
    return out


def record(path: str, every_s: float = 0.25) -> None:
    before = _snapshot()
    with open(path, "w") as out:
        while True:
            time.sleep(every_s)
            now, t = _snapshot(), time.monotonic()
            cpu: dict[str, float] = {}
            for pid, (seconds, kind) in now.items():
                if pid in before and seconds > before[pid][0]:
                    cpu[kind] = cpu.get(kind, 0.0) + seconds - before[pid][0]
            out.write(json.dumps({"t": t, "cpu": {k: round(v, 3) for k, v in cpu.items()}})
                      + "\n")
            out.flush()
            before = now


def show(samples: str, result: str, phase: int | None) -> None:
    rows = [json.loads(line) for line in open(samples)]
    phases = json.load(open(result))["phases"]
    chosen = [phase] if phase is not None else [i for i, p in enumerate(phases)
                                                if p["mode"] == "open"]
    for i in chosen:
        p = phases[i]
        print(f"phase {i}: {p['endpoint']} {p['mode']} at {p.get('rate')} rps, "
              f"p99 {p['latency_ms']['p99']} ms")
        for s, p99 in enumerate(p["p99_ms_by_second"]):
            lo = p["started_at"] + s
            cpu: dict[str, float] = {}
            for r in rows:
                if lo <= r["t"] < lo + 1:
                    for kind, v in r["cpu"].items():
                        cpu[kind] = cpu.get(kind, 0.0) + v
            top = sorted(cpu.items(), key=lambda kv: -kv[1])[:5]
            print(f"  {s:3d}  p99 {p99:8.1f} ms  busy {sum(cpu.values()):4.2f} cores  "
                  + "  ".join(f"{k} {v:.2f}" for k, v in top))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record", help="sample every process's CPU until killed")
    rec.add_argument("out")
    sh = sub.add_parser("show", help="each open-loop second's p99 beside who used the CPU")
    sh.add_argument("samples")
    sh.add_argument("result", help="a benchmark's JSON with phases (benchmarks/results/http.json)")
    sh.add_argument("--phase", type=int, help="only this phase (index)")
    args = ap.parse_args()
    if args.cmd == "record":
        try:
            record(args.out)
        except KeyboardInterrupt:
            pass
    else:
        show(args.samples, args.result, args.phase)


if __name__ == "__main__":
    main()

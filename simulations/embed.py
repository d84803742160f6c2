"""Sentence embeddings of a response file set, for ``simulate --features`` and the ceiling check.

    python -m simulations.embed --data ../shared/data/routellm-evals/mmlu \\
        --model all-MiniLM-L6-v2 --out mmlu_minilm.npy

Writes one unit-length row per request, in the order the simulations read the files, so
that ``bandit-router simulate --data DIR --features FILE`` replays the same stream on these
features instead of the service's hashed words. This answers "would a richer featuriser pay
off?" before anyone builds one into the service.

Needs ``sentence-transformers`` (and so PyTorch), which bandit-router does not depend on;
``--model`` is a model name its hub knows or a local directory holding one. Nothing here is
imported by the service or by the other simulations.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from simulations.data import DataError, read_responses


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="CSV file or directory (RouteLLM style)")
    ap.add_argument("--model", required=True,
                    help="sentence-transformers model name or local model directory")
    ap.add_argument("--out", required=True, type=Path, help="where to write the .npy array")
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args(argv)
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        print("error: this needs sentence-transformers (pip install sentence-transformers); "
              "bandit-router itself does not depend on it", file=sys.stderr)
        return 2
    try:
        table = read_responses(args.data)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    model = SentenceTransformer(args.model, device="cpu")
    started = time.perf_counter()
    emb = model.encode(list(table.prompts), batch_size=args.batch_size,
                       normalize_embeddings=True, show_progress_bar=True)
    seconds = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, np.asarray(emb, dtype=np.float32))
    print(f"{args.out}: {emb.shape[0]} requests × {emb.shape[1]} dimensions in {seconds:.0f} s "
          f"({1000 * seconds / emb.shape[0]:.1f} ms per request in batches of {args.batch_size})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

import csv
from pathlib import Path

import numpy as np
import pytest


def write_responses(path: Path, n: int, seed: int, boolean: bool = True) -> Path:
    """A RouteLLM-shaped CSV: the strong model wins on prompts about 'proofs'."""
    rng = np.random.default_rng(seed)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["prompt", "weak/model-7b", "strong-model", "notes"])
        for i in range(n):
            hard = rng.random() < 0.4
            words = " ".join(rng.choice(["alpha", "beta", "gamma", "delta"], size=6))
            prompt = f"{'prove the theorem' if hard else 'what is'} {words} {i}?"
            weak = rng.random() < (0.3 if hard else 0.8)
            strong = rng.random() < (0.85 if hard else 0.85)
            fmt = (lambda b: "True" if b else "False") if boolean else (lambda b: f"{float(b):.1f}")
            w.writerow([prompt, fmt(weak), fmt(strong), "free text"])
    return path


@pytest.fixture
def response_dir(tmp_path: Path) -> Path:
    d = tmp_path / "evals"
    (d / "sub").mkdir(parents=True)
    write_responses(d / "a.csv", 300, 1)
    write_responses(d / "sub" / "b.csv", 300, 2)
    return d


@pytest.fixture
def models_toml(tmp_path: Path) -> Path:
    p = tmp_path / "models.toml"
    p.write_text(
        '[[models]]\nid = "weak/model-7b"\ninput_price_per_mtok = 0.2\n'
        'output_price_per_mtok = 0.2\ncontext_window = 8192\n\n'
        '[[models]]\nid = "strong-model"\ninput_price_per_mtok = 10.0\n'
        'output_price_per_mtok = 30.0\ncontext_window = 128000\n'
    )
    return p


MANY = ("tiny", "coder", "mid", "big")


def write_many(path: Path, n: int, seed: int, cost_suffix: str = "|total_cost") -> Path:
    """A RouterBench-shaped CSV: four models, quality and price columns per model, text and
    id columns. 'coder' is cheap and as good as 'big' on code prompts; prices vary per row."""
    rng = np.random.default_rng(seed)
    base = {"tiny": 0.0001, "coder": 0.0003, "mid": 0.002, "big": 0.01}
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sample_id", "prompt", "eval_name",
                    *[c for m in MANY for c in (m, f"{m}|model_response", f"{m}{cost_suffix}")],
                    "oracle_model_to_route_to"])
        for i in range(n):
            code = rng.random() < 0.5
            prompt = ("def f(x):\n    return x  # fix this python function" if code
                      else "Which planet is the largest? A. Mars B. Jupiter")
            p = {"tiny": 0.4, "coder": 0.85 if code else 0.3, "mid": 0.65, "big": 0.88}
            row = [f"bench.{i}", f"{prompt} {i}", "code" if code else "science"]
            for m in MANY:
                row += [int(rng.random() < p[m]), "an answer",
                        f"{base[m] * (1 + 0.2 * rng.random()):.8f}"]
            w.writerow(row + ["big"])
    return path

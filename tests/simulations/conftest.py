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

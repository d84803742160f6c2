"""The model line-up: what each model costs, how much it can read, and what it is good at.

Read from a TOML file with one ``[[models]]`` table per model (see ``examples/models.toml``).
Pure Python: the service, the CLI and the simulations read the same file the same way.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class CatalogError(ValueError):
    """A models file that cannot be used, with a message saying what to fix."""


@dataclass(frozen=True)
class ModelSpec:
    id: str
    input_price_per_mtok: float
    output_price_per_mtok: float
    context_window: int
    tags: tuple[str, ...] = ()
    provider: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    upstream_model: str | None = None
    typical_latency_ms: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.id or len(self.id) > 200:
            raise CatalogError("model id must be 1..200 characters")
        for name in ("input_price_per_mtok", "output_price_per_mtok"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise CatalogError(f"model {self.id!r}: {name} must be a finite number ≥ 0")
        if not isinstance(self.context_window, int) or self.context_window < 1:
            raise CatalogError(f"model {self.id!r}: context_window must be a positive integer")

    def cost_usd(self, input_tokens: float, output_tokens: float) -> float:
        """Price of one call with these token counts."""
        return (input_tokens * self.input_price_per_mtok
                + output_tokens * self.output_price_per_mtok) / 1e6


_FIELDS = {f for f in ModelSpec.__dataclass_fields__ if f != "extra"}


def model_from_mapping(data: dict[str, Any]) -> ModelSpec:
    """Build a :class:`ModelSpec` from a TOML/JSON table, keeping unknown keys in ``extra``."""
    if "id" not in data:
        raise CatalogError("every model needs an 'id'")
    known = {k: v for k, v in data.items() if k in _FIELDS}
    missing = [k for k in ("input_price_per_mtok", "output_price_per_mtok", "context_window")
               if k not in known]
    if missing:
        raise CatalogError(f"model {data['id']!r} is missing {', '.join(missing)}")
    known["tags"] = tuple(known.get("tags", ()))
    return ModelSpec(**known, extra={k: v for k, v in data.items() if k not in _FIELDS})


def load_catalog(path: str | Path) -> list[ModelSpec]:
    """Read the ``[[models]]`` tables of a TOML file; ids must be unique."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise CatalogError(f"models file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"models file {path} is not valid TOML: {exc}") from None
    tables = doc.get("models")
    if not isinstance(tables, list) or not tables:
        raise CatalogError(f"models file {path} needs at least one [[models]] table")
    models = [model_from_mapping(t) for t in tables]
    ids = [m.id for m in models]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise CatalogError(f"models file {path} repeats model ids: {', '.join(dup)}")
    return models

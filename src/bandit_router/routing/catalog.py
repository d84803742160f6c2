"""The model line-up: what each model costs, how much it can read, and what it is good at.

Read from a TOML file with one ``[[models]]`` table per model (see ``examples/models.toml``).
Pure Python: the service, the CLI and the simulations read the same file the same way.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
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


# Who may be named where: the validation of ids, upstream addresses and key variables. ------

_URL_SHAPED = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|//")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
OWN_SETTINGS_PREFIX = "BANDIT_ROUTER_"


def check_model_id(model_id: str) -> None:
    """A model id names a model (``gpt-4o-mini``, ``mistralai/Mixtral-8x7B``), not an address."""
    if not isinstance(model_id, str) or not model_id or len(model_id) > 200:
        raise CatalogError("model id must be 1..200 characters")
    if _URL_SHAPED.search(model_id):
        raise CatalogError(f"model id {model_id!r} looks like a URL; an id names the model "
                           "(e.g. 'gpt-4o-mini'): put the address in base_url")


def normalize_base_url(url: str, model_id: str | None = None) -> str:
    """An ``http(s)://host[/path]`` address, its scheme lower-cased (schemes are
    case-insensitive); anything else is refused with what to write instead."""
    what = f"model {model_id!r}: base_url" if model_id else "base_url"
    scheme, sep, rest = url.partition("://") if isinstance(url, str) else ("", "", "")
    if not sep:
        raise CatalogError(f"{what} {url!r} has no scheme: write it in full, e.g. "
                           "'https://api.openai.com/v1'")
    if scheme.lower() not in ("http", "https"):
        raise CatalogError(f"{what} must start with http:// or https:// (got {scheme!r}://); "
                           "the proxy speaks HTTP only")
    host = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if not host or host.startswith(":"):
        raise CatalogError(f"{what} {url!r} has no host")
    if "@" in host:
        raise CatalogError(f"{what} must not carry credentials (user:password@): the line-up "
                           "is readable with an app key; name the key's variable in api_key_env")
    if "?" in rest or "#" in rest:
        raise CatalogError(f"{what} must not have a query or fragment: the proxy appends "
                           "/chat/completions to it")
    return scheme.lower() + "://" + rest


def check_api_key_env(name: str | None, allowed: str, model_id: str | None = None) -> None:
    """The variable whose value is sent upstream as the model's key must be one the operator
    allows (glob patterns, comma-separated: ``BANDIT_ROUTER_UPSTREAM_KEY_ENV_ALLOW``) and never
    one of the service's own settings (the database URL, the operator key)."""
    if name is None:
        return
    what = f"model {model_id!r}: api_key_env" if model_id else "api_key_env"
    if not isinstance(name, str) or not _ENV_NAME.match(name):
        raise CatalogError(f"{what} {name!r} must be an environment variable name "
                           "(A-Z, 0-9, _), e.g. 'OPENAI_API_KEY'")
    if name.startswith(OWN_SETTINGS_PREFIX):
        raise CatalogError(f"{what} {name!r} names one of bandit-router's own settings "
                           f"({OWN_SETTINGS_PREFIX}*), which are never sent upstream; name the "
                           "variable that holds the provider's key, e.g. 'OPENAI_API_KEY'")
    patterns = [p.strip() for p in allowed.split(",") if p.strip()]
    if not any(fnmatchcase(name, p) for p in patterns):
        raise CatalogError(f"{what} {name!r} is not an allowed key variable (allowed: "
                           f"{', '.join(patterns) or 'none'}; the operator sets the list in "
                           f"{OWN_SETTINGS_PREFIX}UPSTREAM_KEY_ENV_ALLOW)")


def checked_for_registration(spec: ModelSpec, allowed_key_envs: str) -> ModelSpec:
    """``spec`` as it may be registered (models file or ``PUT /v1/models``): its id, address
    and key variable checked, the address's scheme lower-cased. Models stored earlier are not
    re-checked when loaded, so an old database keeps working."""
    check_model_id(spec.id)
    check_api_key_env(spec.api_key_env, allowed_key_envs, spec.id)
    if spec.base_url is None:
        return spec
    return replace(spec, base_url=normalize_base_url(spec.base_url, spec.id))


_FIELDS = {f for f in ModelSpec.__dataclass_fields__ if f != "extra"}


def check_keys(data: dict[str, Any]) -> None:
    """Refuse keys a model table does not have (a typo such as ``upstream_modle`` would
    otherwise leave the real field unset), naming the key and the nearest known one. An
    upstream key written into the file is refused: it belongs in an environment variable
    named by ``api_key_env`` (the value is never repeated in the message)."""
    model = f"model {data.get('id')!r}" if "id" in data else "a model"
    if "api_key" in data:
        raise CatalogError(f"{model}: `api_key` is not read from a models file (keys do not "
                           "belong in files); put the key in an environment variable and name "
                           "it with api_key_env = \"PROVIDER_API_KEY\"")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        hints = []
        for key in unknown:
            near = difflib.get_close_matches(key, sorted(_FIELDS), n=1)
            hints.append(f"{key!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
        raise CatalogError(f"{model}: unknown key {', '.join(hints)}; the keys are "
                           f"{', '.join(sorted(_FIELDS))}")


def model_from_mapping(data: dict[str, Any]) -> ModelSpec:
    """Build a :class:`ModelSpec` from a TOML/JSON table; unknown keys are refused."""
    if "id" not in data:
        raise CatalogError("every model needs an 'id'")
    check_keys(data)
    known = {k: v for k, v in data.items() if k in _FIELDS}
    missing = [k for k in ("input_price_per_mtok", "output_price_per_mtok", "context_window")
               if k not in known]
    if missing:
        raise CatalogError(f"model {data['id']!r} is missing {', '.join(missing)}")
    known["tags"] = tuple(known.get("tags", ()))
    return ModelSpec(**known, extra={k: v for k, v in data.items() if k not in _FIELDS})


def with_changes(spec: ModelSpec, changes: dict[str, Any]) -> ModelSpec:
    """``spec`` with only the fields in ``changes`` replaced (a partial update), validated as
    a whole again; unknown keys are refused as in a models file."""
    check_keys({"id": spec.id, **changes})
    if "tags" in changes:
        changes = {**changes, "tags": tuple(changes["tags"] or ())}
    return replace(spec, **changes)


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
    try:
        models = [model_from_mapping(t) for t in tables]
    except CatalogError as exc:
        raise CatalogError(f"models file {path}: {exc}") from None
    ids = [m.id for m in models]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise CatalogError(f"models file {path} repeats model ids: {', '.join(dup)}")
    return models

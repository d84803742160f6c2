"""Setting the operator's rules and cascades: from the models file on start, or over the API.

Every document is checked against the current line-up before it is stored (an unknown model
or tag is an error, not a silent no-op), then the process's router loads the new rule book at
once; other processes pick it up on their next sync.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bandit_router.routing.cascades import Cascade, cascade_from_mapping, cascades_from_file, check_cascade
from bandit_router.routing.rules import GLOBAL, RuleError, RuleSet, check_rule_set, rule_set_from_mapping, \
    rule_sets_from_file
from bandit_router.store.db import transaction
from bandit_router.store import rules as store

if TYPE_CHECKING:
    from bandit_router.service import Service


def register_from_file(service: "Service", path: str | Path) -> None:
    """The models file's ``[[rules]]``, ``[[budget_fallbacks]]`` and ``[[cascades]]``: each
    replaces the stored document of its scope or name (the file wins on every start, as it
    does for models); scopes and cascades the file does not name are left as they are."""
    with Path(path).open("rb") as fh:
        doc = tomllib.load(fh)  # catalog.load_catalog read it successfully just before
    try:
        sets = rule_sets_from_file(doc)
        cascades = cascades_from_file(doc)
        models = service.router.models
        for rs in sets.values():
            check_rule_set(rs, models)
        for c in cascades:
            check_cascade(c, models)
    except RuleError as exc:
        raise RuleError(f"models file {path}: {exc}") from None
    if not sets and not cascades:
        return
    with transaction(service.sessions) as s:
        for scope, rs in sets.items():
            store.save_rule_set(s, scope, rs)
        for c in cascades:
            store.save_cascade(s, c)
    sync(service)


def put_rule_set(service: "Service", scope: str, document: Any) -> RuleSet:
    """Replace the rule set of ``scope`` (:data:`rules.GLOBAL` or a tenant id)."""
    where = "rules" if scope == GLOBAL else f"rules of tenant {scope!r}"
    rule_set = rule_set_from_mapping(document, where)
    check_rule_set(rule_set, service.router.models)
    with transaction(service.sessions) as s:
        store.save_rule_set(s, scope, rule_set)
    sync(service)
    return rule_set


def put_cascade(service: "Service", name: str, document: Any) -> Cascade:
    if not isinstance(document, dict):
        raise RuleError("a cascade is an object with 'models' and 'checks'")
    cascade = cascade_from_mapping({**document, "name": name})
    check_cascade(cascade, service.router.models)
    with transaction(service.sessions) as s:
        store.save_cascade(s, cascade)
    sync(service)
    return cascade


def delete_cascade(service: "Service", name: str) -> None:
    with transaction(service.sessions) as s:
        store.delete_cascade(s, name)
    sync(service)


def sync(service: "Service") -> None:
    service.sync_rules()

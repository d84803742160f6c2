"""Setting the operator's rules and cascades: from the models file on start, or over the API.

Every document is checked against the current line-up before it is stored (an unknown model
or tag is an error, not a silent no-op), then the process's router loads the new rule book at
once; other processes pick it up on their next sync.

A write of a rule or cascade and a change of the line-up each check the other's stored state,
so they take one lock (``MODELS_LOCK``, until their transaction ends) and check what is
committed, not this process's snapshot: two racing could otherwise each pass its check against
what the other was about to change (a rule naming a model whose delete is in flight). The lock
is Postgres's; SQLite has one process, whose request threads are not serialised by it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from sqlalchemy.orm import Session

from bandit_router.routing.cascades import Cascade, cascade_from_mapping, cascades_from_file, check_cascade
from bandit_router.routing.catalog import ModelSpec
from bandit_router.routing.rules import GLOBAL, RuleBook, RuleError, RuleSet, check_rule_set, \
    dangling, rule_set_from_mapping, rule_sets_from_file
from bandit_router.store.db import transaction
from bandit_router.store import rules as store
from bandit_router.store.errors import Conflict
from bandit_router.store.locks import MODELS_LOCK, exclusive_xact_lock
from bandit_router.store.models import list_models, to_spec

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
    with transaction(service.sessions) as s:
        exclusive_xact_lock(s, MODELS_LOCK)
        for scope, rs in sets.items():
            store.save_rule_set(s, scope, rs)
        for c in cascades:
            store.save_cascade(s, c)
        # The file's models were registered just before, and may have dropped a tag that a
        # stored rule (set over the API, or by another scope of the file) names: refuse to
        # start rather than run a rule that silently matches nothing.
        problems = lineup_problems(_lineup(s), store.load_rule_book(s))
        if problems:
            raise RuleError(
                f"models file {path}: with the line-up it registers, {'; '.join(problems)}. "
                "Give the model or tag back in the file, or replace that scope with a "
                "[[rules]] table (a cascade with a [[cascades]] table) in the file, then start "
                "again")
    sync(service)


def put_rule_set(service: "Service", scope: str, document: Any) -> RuleSet:
    """Replace the rule set of ``scope`` (:data:`rules.GLOBAL` or a tenant id)."""
    where = "rules" if scope == GLOBAL else f"rules of tenant {scope!r}"
    rule_set = rule_set_from_mapping(document, where)
    with transaction(service.sessions) as s:
        exclusive_xact_lock(s, MODELS_LOCK)
        check_rule_set(rule_set, _lineup(s))
        store.save_rule_set(s, scope, rule_set)
    sync(service)
    return rule_set


def put_cascade(service: "Service", name: str, document: Any) -> Cascade:
    if not isinstance(document, dict):
        raise RuleError("a cascade is an object with 'models' and 'checks'")
    cascade = cascade_from_mapping({**document, "name": name})
    with transaction(service.sessions) as s:
        exclusive_xact_lock(s, MODELS_LOCK)
        check_cascade(cascade, _lineup(s))
        store.save_cascade(s, cascade)
    sync(service)
    return cascade


def delete_cascade(service: "Service", name: str) -> None:
    with transaction(service.sessions) as s:
        store.delete_cascade(s, name)
    sync(service)


def check_lineup(session: Session, change: str, *, remove: str | None = None,
                 spec: ModelSpec | None = None) -> None:
    """Refuse (:class:`Conflict`, a 409) a change of the line-up — removing model ``remove``,
    or registering or changing ``spec`` — after which a stored rule or cascade would name a
    model that is gone or a tag no model carries: such a rule would otherwise stop matching
    silently, or answer 422 on every request it applies to. ``change`` says what was asked
    ("deleting model 'x'"); the message names every rule and cascade in the way. Holds the
    line-up lock until the caller's transaction ends (see the top of this module)."""
    exclusive_xact_lock(session, MODELS_LOCK)
    models = {i: m for i, m in _lineup(session).items() if i != remove}
    if spec is not None:
        models = {**models, spec.id: spec}
    problems = lineup_problems(models, store.load_rule_book(session))
    if problems:
        raise Conflict(f"{change} is refused: {'; '.join(problems)}. Change or delete those "
                       "first (PUT /v1/rules, PUT /v1/tenants/{id}/rules, PUT or DELETE "
                       "/v1/cascades/{name}), then retry")


def _lineup(session: Session) -> dict[str, ModelSpec]:
    """The registered models as committed (not this process's snapshot)."""
    return {r.id: to_spec(r) for r in list_models(session)}


def lineup_problems(models: Mapping[str, ModelSpec], book: RuleBook) -> list[str]:
    """Each stored rule, fallback line-up and cascade that names a model ``models`` lacks or a
    tag none of them carries, said as the operator would look for it."""
    problems = []
    for scope, rule_set in sorted(book.sets.items()):
        where = "global" if scope == GLOBAL else f"tenant {scope}"  # as explanation.rules
        for name, ids, tags in dangling(rule_set, models):
            named = ", ".join([f"model {i}" for i in ids] + [f"tag {t}" for t in tags])
            what = "the budget fallback line-up" if name == "budget_fallback" else f"rule {name!r}"
            problems.append(f"{what} ({where}) names {named}")
    for name, cascade in sorted(book.cascades.items()):
        gone = [m for m in cascade.models if m not in models]
        if gone:
            problems.append(f"cascade {name!r} names model {', '.join(gone)}")
    return problems


def sync(service: "Service") -> None:
    service.sync_rules()

"""Operator routing documents in the database: rule sets and cascades (``routing_config``).

Documents are validated before they are stored (rules.py, cascades.py); loading parses them
again, so the router always holds typed, checked objects.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from bandit_router.routing.cascades import Cascade, cascade_from_mapping
from bandit_router.routing.rules import RuleBook, RuleError, RuleSet, rule_set_from_mapping
from bandit_router.store.errors import NotFound
from bandit_router.store.schema import RoutingConfigRow

log = logging.getLogger(__name__)
RULES, CASCADE = "rules", "cascade"


def _put(session: Session, kind: str, name: str, document: dict) -> None:
    row = session.get(RoutingConfigRow, (kind, name))
    if row is None:
        row = RoutingConfigRow(kind=kind, name=name)
        session.add(row)
    row.document = document
    row.updated_at = datetime.now(timezone.utc)


def save_rule_set(session: Session, scope: str, rule_set: RuleSet) -> None:
    """Replace the rule set of ``scope`` (``rules.GLOBAL`` or a tenant id)."""
    _put(session, RULES, scope, rule_set.as_json())


def save_cascade(session: Session, cascade: Cascade) -> None:
    _put(session, CASCADE, cascade.name, cascade.as_json())


def delete_cascade(session: Session, name: str) -> None:
    row = session.get(RoutingConfigRow, (CASCADE, name))
    if row is None:
        raise NotFound(f"cascade {name!r} does not exist")
    session.delete(row)


def load_rule_book(session: Session) -> RuleBook:
    """Every stored rule set and cascade. A document that no longer parses (written by a newer
    version) is skipped with an error in the log instead of stopping routing."""
    sets: dict[str, RuleSet] = {}
    cascades: dict[str, Cascade] = {}
    for row in session.scalars(select(RoutingConfigRow)):
        try:
            if row.kind == RULES:
                sets[row.name] = rule_set_from_mapping(row.document, f"rules of {row.name}")
            elif row.kind == CASCADE:
                cascades[row.name] = cascade_from_mapping(row.document)
        except RuleError as exc:
            log.error("stored %s %r cannot be used and is ignored: %s", row.kind, row.name, exc)
    return RuleBook({k: v for k, v in sets.items() if v.rules or v.budget_fallback}, cascades)

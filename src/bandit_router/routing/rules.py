"""Operator rules applied before the bandit: which models a request may go to.

Pure Python, no I/O: the router evaluates them on every decision, the store keeps their
documents, the API and the models file validate them with :func:`check_rule_set`.

A rule set (one global, one per tenant) is a list of rules and an optional budget fallback
line-up. A rule applies when every key of its ``when`` equals the request's ``metadata``
value (a list in ``when`` means any of its values). Evaluation order, fixed:

1. **deny** — every applying rule's ``deny_models`` / ``deny_tags`` removes models (global
   rules first, then the tenant's, each in listed order);
2. **pin** — the first applying ``pin`` (the tenant's rules before the global ones) leaves only
   its model; allow rules are then skipped;
3. **allow** — every applying rule's ``allow_models`` / ``allow_tags`` keeps only the models it
   names or tags (global first, then the tenant's);

then the router's own limits (context window, latency, budget). When the tenant's budget is
exhausted and it chose ``on_exhausted = "fallback"``, the candidates are the fallback line-up
(the tenant's, else the global one) minus what step 1 denied.
A step that leaves no candidate raises :class:`NoCandidateLeft` naming the rule.

Just past 300 lines on purpose: parsing, validation and evaluation of the rules in one module,
so that the order above is written, checked and applied in one place.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from bandit_router.routing.catalog import CatalogError

GLOBAL = "*"  # the scope of the global rule set (no tenant id can be "*")


class RuleError(CatalogError):
    """A rule document that cannot be used; the message says what to fix."""


class NoCandidateLeft(ValueError):
    """The rules leave no model for this request; the message names the rule."""


@dataclass(frozen=True)
class Rule:
    name: str
    when: Mapping[str, Any] = field(default_factory=dict)
    allow_models: tuple[str, ...] = ()
    allow_tags: tuple[str, ...] = ()
    deny_models: tuple[str, ...] = ()
    deny_tags: tuple[str, ...] = ()
    pin: str | None = None

    def applies(self, metadata: Mapping[str, Any] | None) -> bool:
        meta = metadata or {}
        for key, want in self.when.items():
            if key not in meta:
                return False
            options = want if isinstance(want, list) else [want]
            if meta[key] not in options:
                return False
        return True

    @property
    def allows(self) -> bool:
        return bool(self.allow_models or self.allow_tags)

    @property
    def denies(self) -> bool:
        return bool(self.deny_models or self.deny_tags)


@dataclass(frozen=True)
class Lineup:
    """Models named by id or by tag (a model is in it when either names it)."""

    models: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def holds(self, model_id: str, tags: Iterable[str]) -> bool:
        return model_id in self.models or any(t in self.tags for t in tags)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...] = ()
    budget_fallback: Lineup | None = None

    def as_json(self) -> dict[str, Any]:
        return {"rules": [_rule_json(r) for r in self.rules],
                "budget_fallback": (None if self.budget_fallback is None else
                                    {"models": list(self.budget_fallback.models),
                                     "tags": list(self.budget_fallback.tags)})}


EMPTY = RuleSet()


@dataclass(frozen=True)
class RuleBook:
    """Every rule set of the deployment, by scope (:data:`GLOBAL` or a tenant id)."""

    sets: Mapping[str, RuleSet] = field(default_factory=dict)
    cascades: Mapping[str, Any] = field(default_factory=dict)  # name → cascades.Cascade

    def for_tenant(self, tenant_id: str | None) -> tuple[tuple[str, RuleSet], ...]:
        """(scope label, rule set) pairs that apply: the global set, then the tenant's."""
        out = [("global", self.sets.get(GLOBAL, EMPTY))]
        if tenant_id is not None and tenant_id in self.sets:
            out.append((f"tenant {tenant_id}", self.sets[tenant_id]))
        return tuple(out)

    def fallback(self, tenant_id: str | None) -> Lineup | None:
        own = self.sets.get(tenant_id) if tenant_id is not None else None
        if own is not None and own.budget_fallback is not None:
            return own.budget_fallback
        return self.sets.get(GLOBAL, EMPTY).budget_fallback


# -- reading and validating documents ---------------------------------------------------------

_RULE_KEYS = ("name", "when", "allow_models", "allow_tags", "deny_models", "deny_tags", "pin")
_SET_KEYS = ("rules", "budget_fallback")
_LINEUP_KEYS = ("models", "tags")


def _unknown(keys: Iterable[str], known: Sequence[str], where: str) -> None:
    extra = sorted(set(keys) - set(known))
    if extra:
        hints = []
        for k in extra:
            near = difflib.get_close_matches(k, list(known), n=1)
            hints.append(repr(k) + (f" (did you mean {near[0]!r}?)" if near else ""))
        raise RuleError(f"{where}: unknown key {', '.join(hints)}; the keys are "
                        f"{', '.join(known)}")


def _names(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RuleError(f"{where} must be a list of non-empty strings")
    return tuple(value)


def rule_from_mapping(data: Any, where: str) -> Rule:
    if not isinstance(data, dict):
        raise RuleError(f"{where} must be a table/object")
    _unknown(data, _RULE_KEYS, where)
    name = data.get("name")
    if not isinstance(name, str) or not name or len(name) > 100:
        raise RuleError(f"{where} needs a 'name' (1..100 characters) to be explained by")
    where = f"rule {name!r}"
    when = data.get("when") or {}
    if not isinstance(when, dict) or not all(
            isinstance(v, (str, int, float, bool)) or (isinstance(v, list) and v and all(
                isinstance(x, (str, int, float, bool)) for x in v)) for v in when.values()):
        raise RuleError(f"{where}: 'when' must map metadata keys to a value or a list of "
                        "values, e.g. {\"plan\": \"free\"}")
    pin = data.get("pin")
    if pin is not None and (not isinstance(pin, str) or not pin):
        raise RuleError(f"{where}: 'pin' must be a model id")
    rule = Rule(name=name, when=dict(when), pin=pin,
                **{k: _names(data.get(k), f"{where}: {k!r}")
                   for k in ("allow_models", "allow_tags", "deny_models", "deny_tags")})
    if not (rule.allows or rule.denies or rule.pin):
        raise RuleError(f"{where} does nothing: give allow_models, allow_tags, deny_models, "
                        "deny_tags or pin")
    if rule.pin and rule.allows:
        raise RuleError(f"{where}: a pin already names the one model; remove allow_*")
    return rule


def lineup_from_mapping(data: Any, where: str) -> Lineup:
    if not isinstance(data, dict):
        raise RuleError(f"{where} must be a table/object with 'models' and/or 'tags'")
    _unknown(data, _LINEUP_KEYS, where)
    lineup = Lineup(_names(data.get("models"), f"{where}: 'models'"),
                    _names(data.get("tags"), f"{where}: 'tags'"))
    if not (lineup.models or lineup.tags):
        raise RuleError(f"{where} is empty: name models or tags")
    return lineup


def rule_set_from_mapping(data: Any, where: str = "rules") -> RuleSet:
    """A rule set from its JSON document ``{"rules": [...], "budget_fallback": {...}}``."""
    if not isinstance(data, dict):
        raise RuleError(f"{where} must be an object with 'rules' and/or 'budget_fallback'")
    _unknown(data, _SET_KEYS, where)
    raw = data.get("rules") or []
    if not isinstance(raw, list):
        raise RuleError(f"{where}: 'rules' must be a list")
    rules = tuple(rule_from_mapping(r, f"{where}: rule #{i + 1}") for i, r in enumerate(raw))
    names = [r.name for r in rules]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise RuleError(f"{where}: rule names repeat: {', '.join(dup)}")
    fb = data.get("budget_fallback")
    return RuleSet(rules, None if fb is None else lineup_from_mapping(fb, f"{where}: budget_fallback"))


def rule_sets_from_file(doc: Mapping[str, Any]) -> dict[str, RuleSet]:
    """The ``[[rules]]`` and ``[[budget_fallbacks]]`` tables of a models file, by scope: a
    table with ``tenant = "id"`` belongs to that tenant, one without to the global set."""
    rules: dict[str, list] = {}
    fallbacks: dict[str, Any] = {}
    for i, table in enumerate(doc.get("rules") or []):
        if not isinstance(table, dict):
            raise RuleError(f"[[rules]] #{i + 1} must be a table")
        table = dict(table)
        rules.setdefault(str(table.pop("tenant", GLOBAL)), []).append(table)
    for i, table in enumerate(doc.get("budget_fallbacks") or []):
        if not isinstance(table, dict):
            raise RuleError(f"[[budget_fallbacks]] #{i + 1} must be a table")
        table = dict(table)
        scope = str(table.pop("tenant", GLOBAL))
        if scope in fallbacks:
            raise RuleError(f"[[budget_fallbacks]]: two line-ups for {_scope_label(scope)}")
        fallbacks[scope] = table
    return {scope: rule_set_from_mapping(
                {"rules": rules.get(scope, []), "budget_fallback": fallbacks.get(scope)},
                f"[[rules]] of {_scope_label(scope)}")
            for scope in {*rules, *fallbacks}}


def _scope_label(scope: str) -> str:
    return "the global set" if scope == GLOBAL else f"tenant {scope!r}"


def check_rule_set(rule_set: RuleSet, models: Mapping[str, Any]) -> None:
    """Every model and tag a rule names must exist in the line-up ``models`` (id → spec with
    ``tags``): a typo would otherwise make the rule silently do nothing."""
    for name, bad_ids, bad_tags in dangling(rule_set, models):
        if bad_ids:
            raise RuleError(f"rule {name!r} names unknown model(s) {', '.join(bad_ids)}; "
                            f"registered: {', '.join(sorted(models)) or 'none'}")
        tags = sorted({t for m in models.values() for t in m.tags})
        raise RuleError(f"rule {name!r} names tag(s) no registered model carries: "
                        f"{', '.join(bad_tags)}; tags in use: {', '.join(tags) or 'none'}")


def dangling(rule_set: RuleSet, models: Mapping[str, Any]
             ) -> list[tuple[str, list[str], list[str]]]:
    """(rule name, models it names that ``models`` lacks, tags no model of ``models`` carries)
    for every rule (and the budget fallback line-up) of ``rule_set`` naming something missing."""
    tags = {t for m in models.values() for t in m.tags}
    lineups = [(r.name, r.allow_models + r.deny_models + ((r.pin,) if r.pin else ()),
                r.allow_tags + r.deny_tags) for r in rule_set.rules]
    if rule_set.budget_fallback is not None:
        lineups.append(("budget_fallback", rule_set.budget_fallback.models,
                        rule_set.budget_fallback.tags))
    out = []
    for name, ids, tag_names in lineups:
        bad_ids = [i for i in ids if i not in models]
        bad_tags = [t for t in tag_names if t not in tags]
        if bad_ids or bad_tags:
            out.append((name, bad_ids, bad_tags))
    return out


def _rule_json(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {"name": rule.name}
    if rule.when:
        out["when"] = dict(rule.when)
    for k in ("allow_models", "allow_tags", "deny_models", "deny_tags"):
        if getattr(rule, k):
            out[k] = list(getattr(rule, k))
    if rule.pin:
        out["pin"] = rule.pin
    return out


# -- evaluation -----------------------------------------------------------------------------

@dataclass(frozen=True)
class RuleOutcome:
    allowed: tuple[bool, ...]  # per candidate, after the rules
    not_denied: tuple[bool, ...]  # per candidate, after step 1 only (the budget fallback's base)
    trace: tuple[dict[str, Any], ...]  # the rules that applied: what each removed

    def reason(self, model_id: str) -> str | None:
        for step in self.trace:
            if model_id in step.get("removed", ()):
                return f"rule {step['rule']!r} ({step['scope']}): {step['action']}"
        return None


def _names_model(ids: Sequence[str], tags: Sequence[Sequence[str]], models: Sequence[str],
                 tag_names: Sequence[str]) -> list[bool]:
    return [i in models or any(t in tag_names for t in ts) for i, ts in zip(ids, tags)]


def evaluate(book: RuleBook, tenant_id: str | None, metadata: Mapping[str, Any] | None,
             ids: Sequence[str], tags: Sequence[Sequence[str]]) -> RuleOutcome:
    """Apply the rules of ``tenant_id`` (and the global ones) to the candidates ``ids`` (with
    their ``tags``), in the order of the module docstring."""
    scoped = book.for_tenant(tenant_id)
    keep = [True] * len(ids)
    trace: list[dict[str, Any]] = []

    def step(scope: str, rule: Rule, action: str, mask: list[bool]) -> None:
        removed = [i for i, k, m in zip(ids, keep, mask) if k and not m]
        for j, m in enumerate(mask):
            keep[j] = keep[j] and m
        trace.append({"rule": rule.name, "scope": scope, "action": action, "removed": removed})
        if not any(keep):
            raise NoCandidateLeft(f"rule {rule.name!r} ({scope}) leaves no candidate model: "
                                  f"{action} removed {', '.join(removed) or 'nothing'} and no "
                                  "other candidate was left; change the rule or the request's "
                                  "candidates/metadata")

    for scope, rs in scoped:
        for rule in rs.rules:
            if rule.denies and rule.applies(metadata):
                named = _names_model(ids, tags, rule.deny_models, rule.deny_tags)
                step(scope, rule, "deny " + ", ".join(rule.deny_models + rule.deny_tags),
                     [not n for n in named])
    not_denied = tuple(keep)
    pin = next(((scope, r) for scope, rs in reversed(scoped) for r in rs.rules
                if r.pin and r.applies(metadata)), None)
    if pin is not None:
        scope, rule = pin
        if rule.pin not in ids:
            raise NoCandidateLeft(f"rule {rule.name!r} ({scope}) pins {rule.pin}, which is not "
                                  f"among this request's candidates ({', '.join(ids)})")
        if not keep[ids.index(rule.pin)]:
            raise NoCandidateLeft(f"rule {rule.name!r} ({scope}) pins {rule.pin}, which a deny "
                                  "rule removed; the deny wins: change one of them")
        step(scope, rule, f"pin {rule.pin}", [i == rule.pin for i in ids])
    else:
        for scope, rs in scoped:
            for rule in rs.rules:
                if rule.allows and rule.applies(metadata):
                    step(scope, rule, "allow only " + ", ".join(rule.allow_models + rule.allow_tags),
                         _names_model(ids, tags, rule.allow_models, rule.allow_tags))
    return RuleOutcome(tuple(keep), not_denied, tuple(trace))


def fallback_mask(lineup: Lineup, ids: Sequence[str], tags: Sequence[Sequence[str]],
                  not_denied: Sequence[bool]) -> list[bool]:
    """The candidates of a budget fallback line-up that no deny rule removed."""
    return [ok and lineup.holds(i, ts) for i, ts, ok in zip(ids, tags, not_denied)]

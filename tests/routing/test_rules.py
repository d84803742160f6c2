"""The rules' fixed evaluation order, as a pure function."""

from __future__ import annotations

import pytest

from bandit_router.routing.rules import (GLOBAL, NoCandidateLeft, RuleBook, RuleError, evaluate,
                                 rule_set_from_mapping, rule_sets_from_file)

IDS = ["small", "mini", "large"]
TAGS = [("cheap",), ("cheap", "eu"), ("frontier",)]


def book(global_rules=(), tenant_rules=()):
    sets = {GLOBAL: rule_set_from_mapping({"rules": list(global_rules)})}
    if tenant_rules:
        sets["t"] = rule_set_from_mapping({"rules": list(tenant_rules)})
    return RuleBook(sets)


def test_deny_beats_a_pin_and_a_tenant_pin_beats_a_global_one():
    b = book([{"name": "g-pin", "pin": "small"}], [{"name": "t-pin", "pin": "mini"}])
    assert evaluate(b, "t", {}, IDS, TAGS).allowed == (False, True, False)
    assert evaluate(b, None, {}, IDS, TAGS).allowed == (True, False, False)
    denied = book([{"name": "no-eu", "deny_tags": ["eu"]}], [{"name": "t-pin", "pin": "mini"}])
    with pytest.raises(NoCandidateLeft, match="deny wins"):
        evaluate(denied, "t", {}, IDS, TAGS)


def test_allow_rules_intersect_and_only_apply_when_the_metadata_matches():
    b = book([{"name": "free", "when": {"plan": ["free", "trial"]}, "allow_tags": ["cheap"]}],
             [{"name": "eu", "when": {"region": "eu"}, "allow_tags": ["eu"]}])
    assert evaluate(b, "t", {"plan": "trial", "region": "eu"}, IDS, TAGS).allowed == (
        False, True, False)
    assert evaluate(b, "t", {"plan": "pro"}, IDS, TAGS).allowed == (True, True, True)
    out = evaluate(b, "t", {"plan": "free"}, IDS, TAGS)
    assert out.trace == ({"rule": "free", "scope": "global", "action": "allow only cheap",
                          "removed": ["large"]},)
    assert out.reason("large").startswith("rule 'free' (global)")


def test_a_models_file_groups_rules_by_tenant_and_refuses_repeated_names():
    sets = rule_sets_from_file({"rules": [{"name": "a", "deny_models": ["x"]},
                                          {"name": "b", "tenant": "t", "pin": "y"}],
                                "budget_fallbacks": [{"tenant": "t", "models": ["y"]}]})
    assert set(sets) == {GLOBAL, "t"} and sets["t"].budget_fallback.models == ("y",)
    with pytest.raises(RuleError, match="repeat"):
        rule_set_from_mapping({"rules": [{"name": "a", "pin": "x"}, {"name": "a", "pin": "y"}]})

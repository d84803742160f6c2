"""Cascades: models tried cheap → dear, each answer checked, escalating on a failed check.

Pure: a cascade's definition (from the models file's ``[[cascades]]`` or ``PUT
/v1/cascades/{name}``), its validation against the line-up, and the checks that look only at
the answer (JSON, JSON schema, regex, length, refusal, cut off, log-probabilities). The
external verifier and the calls themselves are in ``proxy/cascade.py``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from bandit_router.routing.catalog import CatalogError, normalize_base_url
from bandit_router.routing.rules import RuleError, _unknown

CASCADE_PREFIX = "cascade:"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# Phrases of a model declining to answer (lower-cased, matched at the start of the answer).
REFUSALS = ("i'm sorry", "i am sorry", "i cannot", "i can't", "i can not", "i won't",
            "i am unable", "i'm unable", "as an ai", "sorry, but i", "i apologize")

_CHECK_KEYS = ("json", "json_schema", "regex", "min_length", "not_refusal", "not_truncated",
               "min_mean_logprob", "verifier_url", "verifier_timeout_s")
_CASCADE_KEYS = ("name", "models", "start", "checks", "failure_reward")


@dataclass(frozen=True)
class Checks:
    json: bool = False  # the answer parses as JSON
    json_schema: bool = False  # ... and matches the request's response_format JSON schema
    regex: str | None = None  # the answer matches (re.search)
    min_length: int | None = None  # characters
    not_refusal: bool = False
    not_truncated: bool = False  # finish_reason is not "length"
    min_mean_logprob: float | None = None  # mean token log-probability, when the upstream gives them
    verifier_url: str | None = None  # POSTed {"request", "answer"}; answers {"pass": bool}
    verifier_timeout_s: float = 10.0

    def names(self) -> list[str]:
        return [k for k in _CHECK_KEYS[:-1] if getattr(self, k) not in (None, False)]


@dataclass(frozen=True)
class Cascade:
    name: str
    models: tuple[str, ...]  # cheap → dear
    start: str = "first"  # "first": always the first model; "bandit": the policy picks the start
    checks: Checks = field(default_factory=Checks)
    failure_reward: float | None = 0.0  # reward recorded for an answer that fails; None: none

    def after(self, model: str) -> tuple[str, ...]:
        """The models of the chain after ``model``."""
        return self.models[self.models.index(model) + 1:] if model in self.models else ()

    def as_json(self) -> dict[str, Any]:
        checks = {k: getattr(self.checks, k) for k in _CHECK_KEYS
                  if getattr(self.checks, k) not in (None, False)}
        return {"name": self.name, "models": list(self.models), "start": self.start,
                "checks": checks, "failure_reward": self.failure_reward}


def cascade_from_mapping(data: Any, where: str = "cascade") -> Cascade:
    if not isinstance(data, dict):
        raise RuleError(f"{where} must be a table/object")
    _unknown(data, _CASCADE_KEYS, where)
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise RuleError(f"{where} needs a 'name' of letters, digits, '_', '.', '-' (≤ 100)")
    where = f"cascade {name!r}"
    models = data.get("models")
    if (not isinstance(models, list) or len(models) < 2
            or not all(isinstance(m, str) and m for m in models) or len(set(models)) < len(models)):
        raise RuleError(f"{where}: 'models' must list at least two distinct model ids, cheap → dear")
    start = data.get("start", "first")
    if start not in ("first", "bandit"):
        raise RuleError(f"{where}: 'start' must be \"first\" or \"bandit\" (got {start!r})")
    fr = data.get("failure_reward", 0.0)
    if fr is False:
        fr = None
    if fr is not None and (isinstance(fr, bool) or not isinstance(fr, (int, float))
                           or not 0.0 <= fr <= 1.0):
        raise RuleError(f"{where}: 'failure_reward' must be a number in [0, 1], or false to "
                        "record no reward for a failed check")
    return Cascade(name, tuple(models), start, _checks(data.get("checks") or {}, where),
                   None if fr is None else float(fr))


def _checks(data: Any, where: str) -> Checks:
    if not isinstance(data, dict):
        raise RuleError(f"{where}: 'checks' must be a table/object")
    _unknown(data, _CHECK_KEYS, f"{where}: checks")
    for flag in ("json", "json_schema", "not_refusal", "not_truncated"):
        if not isinstance(data.get(flag, False), bool):
            raise RuleError(f"{where}: checks.{flag} must be true or false")
    regex = data.get("regex")
    if regex is not None:
        try:
            re.compile(regex)
        except (re.error, TypeError) as exc:
            raise RuleError(f"{where}: checks.regex is not a regular expression: {exc}") from None
    n = data.get("min_length")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise RuleError(f"{where}: checks.min_length must be a positive integer")
    lp = data.get("min_mean_logprob")
    if lp is not None and (isinstance(lp, bool) or not isinstance(lp, (int, float))
                           or not math.isfinite(lp) or lp > 0):
        raise RuleError(f"{where}: checks.min_mean_logprob must be a number ≤ 0")
    url = data.get("verifier_url")
    if url is not None:
        try:
            url = normalize_base_url(url)
        except CatalogError as exc:
            raise RuleError(f"{where}: checks.verifier_url: {exc}") from None
    timeout = data.get("verifier_timeout_s", 10.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 120:
        raise RuleError(f"{where}: checks.verifier_timeout_s must be in (0, 120]")
    checks = Checks(**{**{k: v for k, v in data.items() if k in _CHECK_KEYS},
                       "verifier_url": url, "verifier_timeout_s": float(timeout)})
    if not checks.names():
        raise RuleError(f"{where}: 'checks' names no check, so no answer would ever escalate; "
                        f"the checks are {', '.join(_CHECK_KEYS[:-1])}")
    return checks


def cascades_from_file(doc: Mapping[str, Any]) -> list[Cascade]:
    """The ``[[cascades]]`` tables of a models file; names must be unique."""
    out = [cascade_from_mapping(t, f"[[cascades]] #{i + 1}")
           for i, t in enumerate(doc.get("cascades") or [])]
    names = [c.name for c in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise RuleError(f"[[cascades]]: names repeat: {', '.join(dup)}")
    return out


def check_cascade(cascade: Cascade, models: Mapping[str, Any]) -> None:
    bad = [m for m in cascade.models if m not in models]
    if bad:
        raise RuleError(f"cascade {cascade.name!r} names unknown model(s) {', '.join(bad)}; "
                        f"registered: {', '.join(sorted(models)) or 'none'}")


# -- the checks on an answer ---------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    """What a check looks at: the text, why it ended, and token log-probabilities if given."""

    text: str
    finish_reason: str | None = None
    logprobs: Sequence[float] | None = None


def answer_of_completion(doc: Any) -> Answer:
    """The first choice of an OpenAI chat completion (non-streamed)."""
    choice = ((doc or {}).get("choices") or [{}])[0] if isinstance(doc, dict) else {}
    choice = choice if isinstance(choice, dict) else {}
    text = str((choice.get("message") or {}).get("content") or "")
    content = (choice.get("logprobs") or {}).get("content") if isinstance(
        choice.get("logprobs"), dict) else None
    lps = None
    if isinstance(content, list):
        lps = [float(t["logprob"]) for t in content
               if isinstance(t, dict) and isinstance(t.get("logprob"), (int, float))]
    return Answer(text, choice.get("finish_reason"), lps)


def response_schema(body: Mapping[str, Any]) -> dict | None:
    """The JSON schema of the request's ``response_format`` (``json_schema`` type), if any."""
    rf = body.get("response_format")
    if isinstance(rf, dict) and rf.get("type") == "json_schema":
        spec = rf.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return schema if isinstance(schema, dict) else None
    return None


def local_checks(checks: Checks, answer: Answer, body: Mapping[str, Any]) -> str | None:
    """The first check the answer fails, as a sentence; None when it passes them all (the
    external verifier is run by the caller)."""
    text = answer.text
    if checks.not_truncated and answer.finish_reason == "length":
        return "not_truncated: the answer was cut off (finish_reason = length)"
    if checks.min_length is not None and len(text.strip()) < checks.min_length:
        return f"min_length: {len(text.strip())} characters < {checks.min_length}"
    if checks.not_refusal and text.strip().lower().startswith(REFUSALS):
        return "not_refusal: the answer is a refusal"
    if checks.json or checks.json_schema:
        try:
            value = json.loads(text)
        except ValueError as exc:
            return f"json: the answer is not JSON ({exc})"
        schema = response_schema(body) if checks.json_schema else None
        if schema is not None:
            import jsonschema  # a core dependency; imported here, off the import path of routing

            try:
                jsonschema.validate(value, schema)
            except jsonschema.ValidationError as exc:
                return f"json_schema: {exc.message}"
            except jsonschema.SchemaError as exc:
                return f"json_schema: the request's schema is invalid ({exc.message})"
    if checks.regex is not None and not re.search(checks.regex, text):
        return f"regex: the answer does not match {checks.regex!r}"
    if checks.min_mean_logprob is not None and answer.logprobs:
        mean = sum(answer.logprobs) / len(answer.logprobs)
        if mean < checks.min_mean_logprob:
            return f"min_mean_logprob: {mean:.3f} < {checks.min_mean_logprob}"
    return None

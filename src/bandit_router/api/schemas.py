"""Request and response bodies. All validation of caller input happens here.

Just past 300 lines on purpose: one place for every body the API accepts or answers, so that
the validation rules (and the OpenAPI document generated from them) are read in one file.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import to_json

from bandit_router.routing.catalog import ModelSpec, normalize_base_url
from bandit_router.store.records import ModelUsage

if TYPE_CHECKING:  # the client imports these schemas without the server's stack (numpy)
    from bandit_router.routing import RouteDecision


def _storable(value: str) -> str:
    """Text that is stored must be valid Unicode without NUL (Postgres refuses both)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogate escapes)") from None
    return value


def _storable_json(value: dict | None) -> dict | None:
    if value is None:
        return None
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        raise ValueError("must be JSON of valid Unicode without NaN or Infinity") from None
    if "\\u0000" in text or "\x00" in text:
        raise ValueError("must not contain NUL (\\u0000) characters")
    if len(text) > 16_384:
        raise ValueError(f"is {len(text)} characters as JSON; the limit is 16384")
    return value


Text = Annotated[str, AfterValidator(_storable)]

ModelId = Annotated[Text, StringConstraints(min_length=1, max_length=200,
                                           pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$")]
FeatureName = Annotated[Text, StringConstraints(min_length=1, max_length=200)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Annotated[str, StringConstraints(max_length=64)]
    content: str | list[dict[str, Any]] | None = None


class RouteIn(Strict):
    prompt: str | None = Field(None, description="the request text; or give `messages`")
    messages: list[ChatMessage] | None = Field(None, max_length=10_000,
                                               description="OpenAI chat messages instead of `prompt`")
    features: dict[FeatureName, Finite] = Field(
        default_factory=dict, max_length=256,
        description="caller's numeric features, e.g. {\"user_tier\": 2}",
    )
    candidates: list[ModelId] | None = Field(None, min_length=1, max_length=200)
    expected_output_tokens: int | None = Field(None, ge=0, le=10_000_000)
    input_tokens: int | None = Field(None, ge=0, le=100_000_000,
                                     description="exact prompt tokens, if the caller knows them")
    max_latency_ms: Finite | None = Field(None, gt=0, le=3_600_000,
                                          description="only models whose recent p95 is below")
    metadata: Annotated[dict[str, Any] | None, AfterValidator(_storable_json)] = Field(
        None, description="stored with the decision (≤ 16 KB as JSON); operator rules match on it")
    cascade: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = Field(
        None, description="route to the start of this cascade (models cheap → dear)")
    escalate_from: Annotated[str, StringConstraints(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")] | None = Field(
        None, description="a cascade decision whose answer failed: route to the chain's next model")

    @model_validator(mode="after")
    def _one_text(self) -> "RouteIn":
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of `prompt` (a string) or `messages` (chat format)")
        if self.messages is not None and not self.messages:
            raise ValueError("`messages` must not be empty")
        return self


class RouteOut(BaseModel):
    decision_id: str
    model: str
    fallbacks: list[str]
    propensity: float
    policy_version: int
    estimated_cost_usd: float
    explanation: dict[str, Any]
    cascade: dict[str, Any] | None = Field(
        None, description='with `cascade`/`escalate_from`: {"name", "next": models after this one}')

    @classmethod
    def of(cls, d: "RouteDecision", cascade: dict[str, Any] | None = None) -> "RouteOut":
        """The answer for decision ``d``: the one conversion of a decision to the API."""
        explanation = d.explanation if d.logged else {**d.explanation, "logged": False}
        return cls(decision_id=d.decision_id, model=d.model, fallbacks=d.fallbacks,
                   propensity=d.propensity, policy_version=d.policy_version,
                   estimated_cost_usd=d.estimated_cost_usd, explanation=explanation,
                   cascade=cascade)

    @classmethod
    def json_of(cls, d: "RouteDecision", cascade: dict[str, Any] | None = None) -> bytes:
        """``RouteOut.of(d, cascade)`` as JSON, the same bytes, without building the model:
        the per-model numbers are ``d.models_json``, serialised once for the answer and the
        decision log (it was ~40 % of the answer's CPU, and the log paid it again)."""
        explanation = d.explanation
        if "models" not in explanation or "logged" in explanation:
            out = cls.of(d, cascade)
            return out.__pydantic_serializer__.to_json(out)
        head: dict[str, Any] = {}
        tail: dict[str, Any] = {}
        part = head
        for key, value in explanation.items():  # in order: the models' place is kept
            if key == "models":
                part = tail
            else:
                part[key] = value
        if not d.logged:
            tail["logged"] = False
        first = to_json({"decision_id": d.decision_id, "model": d.model,
                         "fallbacks": d.fallbacks, "propensity": float(d.propensity),
                         "policy_version": int(d.policy_version),
                         "estimated_cost_usd": float(d.estimated_cost_usd)})
        return b"".join((
            first[:-1], b',"explanation":', to_json(head)[:-1], b',"models":' if head
            else b'"models":', d.models_json, b"," + to_json(tail)[1:] if tail else b"}",
            b',"cascade":', to_json(cascade), b"}"))


class FeedbackIn(Strict):
    decision_id: Annotated[str, StringConstraints(min_length=1, max_length=64,
                                                  pattern=r"^[A-Za-z0-9_-]+$")]
    reward: Finite | None = Field(None, ge=0.0, le=1.0)
    input_tokens: int | None = Field(None, ge=0, le=100_000_000)
    output_tokens: int | None = Field(None, ge=0, le=100_000_000)
    cost_usd: Finite | None = Field(None, ge=0.0, le=1_000_000.0)
    latency_ms: Finite | None = Field(None, ge=0.0, le=86_400_000.0)
    error: Annotated[Text, StringConstraints(min_length=1, max_length=2000)] | None = None

    @model_validator(mode="after")
    def _reward_or_error(self) -> "FeedbackIn":
        if self.reward is None and self.error is None:
            raise ValueError("`reward` (a number from 0 to 1) is required unless `error` is set")
        return self


class FeedbackOut(BaseModel):
    decision_id: str
    status: Literal["recorded", "duplicate"]
    feedback_id: int


class ModelIn(Strict):
    input_price_per_mtok: Finite = Field(ge=0, le=1_000_000)
    output_price_per_mtok: Finite = Field(ge=0, le=1_000_000)
    context_window: int = Field(ge=1, le=100_000_000)
    tags: list[Annotated[Text, StringConstraints(max_length=64)]] = Field(default_factory=list,
                                                                       max_length=64)
    provider: Annotated[Text, StringConstraints(max_length=100)] | None = None
    base_url: Annotated[Text, StringConstraints(max_length=2000)] | None = None
    api_key_env: Annotated[str, StringConstraints(max_length=200,
                                                  pattern=r"^[A-Z_][A-Z0-9_]*$")] | None = None
    upstream_model: Annotated[Text, StringConstraints(max_length=200)] | None = None
    typical_latency_ms: Finite | None = Field(None, ge=0)

    @field_validator("base_url")
    @classmethod
    def _http_only(cls, v: str | None) -> str | None:
        return None if v is None else normalize_base_url(v)  # a CatalogError is a ValueError

    def spec(self, model_id: str) -> ModelSpec:
        """The model this body registers as ``model_id``: the one conversion from the API."""
        return ModelSpec(id=model_id, tags=tuple(self.tags), **self.model_dump(exclude={"tags"}))


def _partial(model: type[BaseModel], name: str) -> type[BaseModel]:
    """``model`` with every required field optional (the same constraints and validators), for
    a PATCH body in which only the fields given change."""
    fields = {n: (f.annotation | None, FieldInfo.merge_field_infos(f, default=None))
              for n, f in model.model_fields.items() if f.is_required()}
    return create_model(name, __base__=model, **fields)


ModelPatch = _partial(ModelIn, "ModelPatch")


class ModelOut(BaseModel):
    id: str
    provider: str | None
    input_price_per_mtok: float
    output_price_per_mtok: float
    context_window: int
    tags: list[str]
    base_url: str | None
    upstream_model: str | None
    typical_latency_ms: float | None
    observations: float = Field(description="discounted number of feedback rows in the posterior")

    @classmethod
    def of(cls, spec: ModelSpec, observations: float) -> "ModelOut":
        """The answer for a registered model: the one conversion to the API (the environment
        variable that holds its upstream key is not shown)."""
        return cls(id=spec.id, provider=spec.provider,
                   input_price_per_mtok=spec.input_price_per_mtok,
                   output_price_per_mtok=spec.output_price_per_mtok,
                   context_window=spec.context_window, tags=list(spec.tags),
                   base_url=spec.base_url, upstream_model=spec.upstream_model,
                   typical_latency_ms=spec.typical_latency_ms, observations=observations)


class RefitOut(BaseModel):
    version: int | None
    new_rows: int
    n_feedback: int
    seconds: float
    status: str





TenantId = Annotated[str, StringConstraints(min_length=1, max_length=64,
                                            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class FeedbackWindowIn(Strict):
    """Missing feedback: after ``window_s`` without feedback, ``default_reward`` is recorded."""
    window_s: Finite | None = Field(None, gt=0, le=366 * 86_400, description="seconds after "
                                    "a decision that feedback is awaited; null = no window")
    default_reward: Finite | None = Field(None, ge=0.0, le=1.0, description="the reward "
                                          "recorded when the window closes without feedback")
    late_feedback: Literal["reject", "replace"] = Field(
        "reject", description="feedback after the window: 409 (reject), or it replaces the "
                              "default once (replace)")

    @model_validator(mode="after")
    def _both_or_neither(self) -> "FeedbackWindowIn":
        if (self.window_s is None) != (self.default_reward is None):
            raise ValueError("set both `window_s` and `default_reward` (or neither, to switch "
                             "the feedback window off)")
        return self


class TenantIn(Strict):
    name: Annotated[Text, StringConstraints(min_length=1, max_length=200)]
    id: TenantId | None = Field(None, description="optional; generated when absent")
    p95_latency_ms: Finite | None = Field(None, gt=0, le=3_600_000)
    feedback_window: FeedbackWindowIn | None = None


class BudgetIn(Strict):
    period: Literal["hour", "day", "month"]
    limit_usd: Finite = Field(gt=0, le=1e9)
    on_exhausted: Literal["cheapest", "reject", "fallback"] = Field(
        "cheapest", description='"fallback": route within the budget fallback line-up of the '
                                "tenant's rules (PUT /v1/tenants/{id}/rules), else the global one")


class SlaIn(Strict):
    p95_latency_ms: Finite | None = Field(gt=0, le=3_600_000)


class TrustIn(Strict):
    trust_reported_cost: bool = Field(description="charge the cost this tenant's app reports "
                                      "in feedback even when it is below what the service "
                                      "measured or estimated")


class BudgetOut(BaseModel):
    period: str
    limit_usd: float
    on_exhausted: str


class FeedbackWindowOut(BaseModel):
    window_s: float
    default_reward: float
    late_feedback: str


class TenantOut(BaseModel):
    id: str
    name: str
    p95_latency_ms: float | None
    budget: BudgetOut | None
    trust_reported_cost: bool = False
    feedback_window: FeedbackWindowOut | None = None


class KeyIn(Strict):
    name: Annotated[Text, StringConstraints(max_length=200)] | None = None


class KeyOut(BaseModel):
    id: str
    tenant_id: str | None
    name: str | None
    prefix: str
    created_at: str
    revoked: bool


class IssuedKeyOut(BaseModel):
    id: str
    tenant_id: str | None
    key: str = Field(description="the secret; shown only in this response")


class UsageOut(BaseModel):
    tenant_id: str
    period: str | None
    period_start: str
    period_end: str
    spent_usd: float = Field(description="settled cost of decisions with feedback")
    pending_usd: float = Field(description="estimated cost of decisions awaiting feedback")
    committed_usd: float
    limit_usd: float | None
    remaining_usd: float | None
    cost_weight: float | None = Field(description="current paced λ (reward per USD)")
    models: list[ModelUsage]

"""Request and response bodies. All validation of caller input happens here."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

ModelId = Annotated[str, StringConstraints(min_length=1, max_length=200,
                                           pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$")]
FeatureName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
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
    metadata: dict[str, Any] | None = None

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


class FeedbackIn(Strict):
    decision_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    reward: Finite | None = Field(None, ge=0.0, le=1.0)
    input_tokens: int | None = Field(None, ge=0, le=100_000_000)
    output_tokens: int | None = Field(None, ge=0, le=100_000_000)
    cost_usd: Finite | None = Field(None, ge=0.0, le=1_000_000.0)
    latency_ms: Finite | None = Field(None, ge=0.0, le=86_400_000.0)
    error: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None

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
    tags: list[Annotated[str, StringConstraints(max_length=64)]] = Field(default_factory=list,
                                                                       max_length=64)
    provider: Annotated[str, StringConstraints(max_length=100)] | None = None
    base_url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    api_key_env: Annotated[str, StringConstraints(max_length=200,
                                                  pattern=r"^[A-Z_][A-Z0-9_]*$")] | None = None
    upstream_model: Annotated[str, StringConstraints(max_length=200)] | None = None
    typical_latency_ms: Finite | None = Field(None, ge=0)

    @field_validator("base_url")
    @classmethod
    def _http_only(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return v


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


class RefitOut(BaseModel):
    version: int | None
    new_rows: int
    n_feedback: int
    seconds: float
    status: str



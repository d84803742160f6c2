"""The one settings class. Every value comes from a ``BANDIT_ROUTER_*`` environment variable
(or a CLI flag that sets it); nothing else in the code reads ``os.environ``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bandit_router.features.featurizer import DEFAULT_SPEC, N_DENSE, FeatureSpec
from bandit_router.policy import DriftDetector, PolicySpec, Prior, shared, subspace


def data_dir() -> Path:
    """bandit-router's folder in the user's data folder: $XDG_DATA_HOME/bandit-router on
    Linux (~/.local/share/bandit-router when unset); created when the default database is
    first opened."""
    return Path(platformdirs.user_data_dir("bandit-router", appauthor=False))


def default_database_url() -> str:
    """The embedded database in :func:`data_dir`, so that every command finds the same
    database whatever folder it is run from."""
    return f"sqlite:///{data_dir() / 'bandit-router.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BANDIT_ROUTER_", extra="ignore")

    database_url: SecretStr = Field(
        default_factory=lambda: SecretStr(default_database_url()),
        description="SQLAlchemy URL; sqlite:///PATH (default: the user's data folder) or "
                    "postgresql+psycopg://USER@HOST/DB",
    )
    models_file: Path | None = Field(
        None, description="TOML line-up loaded on start (models already stored are updated)"
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes")

    policy: Literal["thompson", "linucb"] = "thompson"
    linucb_alpha: float = Field(1.0, ge=0)
    cost_weight: float = Field(
        0.0, ge=0, description="λ in utility = reward − λ·cost_usd (reward per USD)"
    )
    propensity_floor: float = Field(
        PolicySpec.propensity_floor, ge=0, le=0.5, description="every eligible model's "
        "minimum probability (importance weights stay ≤ 1 / this); all a model the dominance "
        "test prunes gets from the floor")
    floor_mass: float = Field(
        PolicySpec.floor_mass, ge=0, le=0.5, description="> 0: the exploration floor's total "
        "probability, whatever the number of models (0: PROPENSITY_FLOOR per model)")
    floor_prune: float = Field(
        PolicySpec.floor_prune, ge=0, description="> 0 (needs FLOOR_MASS): a model whose "
        "upper bound (mean + z·sd of its utility) is below another's lower bound keeps only "
        "PROPENSITY_FLOOR; z")
    floor_bounded: bool = Field(
        PolicySpec.floor_bounded, description="the dominance test (FLOOR_PRUNE) caps each "
        "model's bounds at its reward range [0, 1] (in utility: −λ·cost to 1 − λ·cost)")
    thompson_truncate: bool = Field(
        PolicySpec.truncate, description="Thompson sampling draws each model's expected "
        "reward from its posterior truncated to [0, 1] (rewards lie there)")
    # The policy's own defaults (policy.Prior, policy.DriftDetector) are the settings' defaults.
    prior_precision: float = Field(Prior.precision, gt=0, description="prior precision of "
                                   "every model's regression weights (ridge strength)")
    prior_optimism: float = Field(Prior.optimism,
                                  description="prior mean reward of an untried model")
    exploration: float = Field(Prior.exploration, ge=0,
                               description="scale of the posterior spread")
    prior_bias_precision: float | None = Field(
        Prior.bias_precision, gt=0, description="prior precision of the bias weight alone "
        "(unset: prior_precision)")
    prior_tail_precision: float | None = Field(
        Prior.tail_precision, gt=0, description="prior precision of the hashed-word and caller "
        "weights (unset: prior_precision); higher keeps their spread small until data "
        "supports them")
    prior_evidence: Literal["none", "arm", "shared"] = Field(
        Prior.evidence, description="learn the prior precision of the structure and word "
        "weights by evidence at each refit: per model (arm), one for all models (shared), or "
        "not (none)")
    prior_pool: float = Field(Prior.pool, ge=0, description="weight of the pooled fit of all "
                              "models as every model's prior mean (0: optimism on the bias); "
                              "with prior_evidence the bias's precision is learned too")
    prior_tail_exploration: float = Field(
        Prior.tail_exploration, ge=0, description="scale of the decision's spread in the "
        "word and caller directions, relative to EXPLORATION (1: the same in every direction)")
    prior_subspace: str = Field(
        Prior.subspace, description="off; a number "
        "r: the word weights' prior spread lies along the r principal directions of the "
        "requests' word features (1/10 of it elsewhere); evidence: as many directions as the "
        "traffic supports")
    prior_shared: str = Field(
        Prior.shared, description="off; mean: every model's context weights start at the fit "
        "of all other models' feedback (one intercept each), so predictions follow the "
        "request's difficulty early; scale: also a loose prior along that pattern (each model "
        "its own factor); direction: that loose prior alone, the prior mean unchanged")
    prior_family_directions: int = Field(
        Prior.family_directions, ge=0, description="0: off; C: the C leading principal "
        "directions of the word features (the request families the traffic falls into, "
        "learned online) get a prior precision of their own, learned apart from the other "
        "word directions, so each model learns how it does on each family early; needs "
        "prior_subspace")
    prior_optimism_quantile: float | None = Field(
        Prior.optimism_quantile, ge=0, le=1, description="unset: an untried model is expected "
        "to earn PRIOR_OPTIMISM; q in [0, 1]: the q-quantile of the mean rewards observed so "
        "far of the models with data")

    # The defaults are features.DEFAULT_SPEC (features/featurizer.py), chosen by measurement:
    # simulations/README.md, "Semantic features".
    feature_words: Literal["hashed", "wordllama"] = Field(
        DEFAULT_SPEC.words, description="what describes the prompt's words: wordllama (static "
        "word embeddings, feature_buckets ∈ 32, 64, 128, 256 dimensions) or hashed (signed "
        "hashed word n-grams, feature_buckets buckets). Changing it, or feature_buckets, "
        "restarts learning from the prior: logged feedback keeps only its feature vectors")
    feature_buckets: int = Field(DEFAULT_SPEC.n_buckets, ge=8, le=65_536,
                                 description="size of the word block")
    feature_ngrams: int = Field(DEFAULT_SPEC.max_ngram, ge=1, le=3,
                                description="longest hashed word n-gram (hashed words only)")
    feature_caller_slots: int = Field(DEFAULT_SPEC.n_caller, ge=0, le=1024)

    refit_interval_s: float = Field(30.0, gt=0)
    half_life_s: float | None = Field(
        86_400.0, description="age at which an observation counts half; unset or 0 = no discount"
    )
    learn_cost: bool = Field(
        True, description="learn each model's price per kind of request from what its calls "
                          "were charged against the decision's estimate (policy/cost.py); "
                          "false: decide on the catalog estimate alone")
    drift_detection: bool = Field(
        True, description="watch each model's rewards for an abrupt change (CUSUM on the "
                          "residuals) and forget its older evidence when one is found")
    drift_threshold: float = Field(DriftDetector.threshold, gt=0, description="evidence for a "
                                   "change alarm, in residual standard deviations (higher = "
                                   "fewer, later alarms)")
    drift_keep: float = Field(DriftDetector.keep, ge=0, description="observations' worth of "
                              "evidence a model keeps after a change alarm")
    posterior_stale_after_s: float | None = Field(
        None, gt=0, description="report the posterior stale (/readyz, stays 200) when feedback "
                                "has waited this long without a refit learning it; default "
                                "4 × refit_interval_s")
    max_requests_per_connection: int = Field(
        100, ge=0, description="answer a keep-alive connection's Nth request with "
                               "'Connection: close' (0: never), so that clients reconnect and "
                               "load spreads over the workers")
    posterior_poll_s: float = Field(2.0, gt=0, description="how often a process checks for a "
                                    "newer posterior; also how long it trusts a key it confirmed")
    scheduler: bool = Field(True, description="run the refit scheduler in this process")
    refit_in_process: bool = Field(
        True, description="the scheduler also refits (not only polls); set false on serving "
                          "replicas when one dedicated process refits, to keep the refit's CPU "
                          "and GIL time off the request path")

    # Decision-log lifecycle (docs/operations.md).
    lifecycle_interval_s: float = Field(
        60.0, gt=0, description="how often a serving process records default rewards of "
                                "closed feedback windows and maintains partitions/retention")
    retention_days: float | None = Field(
        None, gt=0, description="drop decisions and their feedback older than this many days "
                                "(whole partitions on Postgres); unset = keep everything")
    partition_ahead_days: int = Field(
        7, ge=1, le=366, description="Postgres: daily partitions created this far ahead")
    retention_export_dir: Path | None = Field(
        None, description="before retention drops a day, export it to DIR/decisions-FROM-TO.parquet")
    database_pooler: Literal["none", "session", "transaction"] = Field(
        "none", description="what sits between the service and Postgres: PgBouncer in "
                            "transaction pooling mode needs 'transaction' (no prepared "
                            "statements, no session-level locks)")

    admin_key: SecretStr | None = Field(
        None, description="operator key for admin endpoints; generated and printed once if unset"
    )
    latency_window_s: float = Field(300.0, gt=0, description="window of per-model p95 latency")
    latency_refresh_s: float = Field(
        10.0, gt=0, description="how often each process recomputes the per-model p95 latency")
    reconcile_interval_s: float = Field(
        60.0, gt=0, description="how often budget counters are re-derived from the ledger")

    decision_batching: bool = Field(
        True, description="log decisions of budget-free tenants in batches off the request path")
    decision_buffer_max: int = Field(
        100_000, ge=1, description="decisions held in memory while the database is unreachable; "
                                   "beyond it a decision is answered but marked unlogged")
    writer_batch_max: int = Field(1000, ge=1, description="rows per batched INSERT")
    writer_linger_s: float = Field(
        0.005, ge=0, le=1.0, description="how long the decision writer lets rows gather before "
                                         "a batch (fewer, larger commits)")
    feedback_linger_s: float = Field(
        0.002, ge=0, le=1.0, description="how long the feedback committer lets feedback gather "
                                         "before one group commit (adds to its answer time)")
    writer_retry_max_s: float = Field(2.0, gt=0, description="longest backoff of the writers")
    feedback_wait_s: float = Field(
        5.0, gt=0, description="how long feedback waits for its decision to be logged, and a "
                               "decision committed before its answer for the log, before 503")
    decision_in_flight_s: float = Field(
        600.0, gt=0, description="how long after it was routed a decision that is not in the "
                                 "database may still be in the routing process's buffer: its "
                                 "feedback is answered 503 (retry) until then, 404 after")
    decision_grace_s: float = Field(
        0.05, ge=0, description="before answering 404, look again after this long (the decision "
                                "may still be in another replica's buffer)")
    auth_cache_ttl_s: float = Field(
        900.0, ge=0, description="while the database is unreachable, accept keys it confirmed "
                                 "within this many seconds")
    shutdown_drain_s: float = Field(10.0, ge=0, description="time to flush buffers on shutdown")

    rate_limit_per_s: float | None = Field(
        None, gt=0, description="per-key requests per second (per process); unset = no limit")
    rate_limit_burst: int = Field(20, ge=1, description="requests a key may make at once")

    max_prompt_chars: int = Field(1_000_000, ge=1)
    max_body_bytes: int = Field(4_000_000, ge=1024)
    request_body_timeout_s: float = Field(
        15.0, gt=0, description="a request whose body has not fully arrived this many seconds "
                                "after it began gets 408 (slow clients)")
    default_output_tokens: int = Field(256, ge=0)
    blas_threads: int = Field(1, ge=1, le=256, description="BLAS threads per process")
    log_level: str = "INFO"

    proxy_deadline_s: float = Field(
        60.0, gt=0, description="proxy: time to get an answer, all tries and fallbacks together"
    )
    proxy_attempt_timeout_s: float = Field(
        30.0, gt=0, description="proxy: one model's time to answer (a stream: its first bytes)"
    )
    proxy_connect_timeout_s: float = Field(5.0, gt=0, description="proxy: connecting to an upstream")
    proxy_stream_idle_timeout_s: float = Field(
        60.0, gt=0, description="proxy: longest silence between two chunks of a stream"
    )
    proxy_max_attempts: int = Field(3, ge=1, le=20, description="proxy: models tried per request")
    upstream_key_env_allow: str = Field(
        "*_API_KEY,*_API_TOKEN", description="environment variables a model's api_key_env may "
        "name (comma-separated glob patterns); BANDIT_ROUTER_* is always refused")
    circuit_failure_threshold: int = Field(
        5, ge=1, description="consecutive failures that put a model in cooldown"
    )
    circuit_cooldown_s: float = Field(
        30.0, gt=0, description="seconds in cooldown before one probe request is let through"
    )

    @field_validator("prior_subspace")
    @classmethod
    def _subspace(cls, v: str) -> str:
        subspace.parse(v)  # the policy's one rule, and its message saying what to write
        return v.strip().lower()

    @field_validator("prior_shared")
    @classmethod
    def _shared(cls, v: str) -> str:
        return shared.parse(v)  # the policy's one rule: off, mean, scale or direction

    @field_validator("half_life_s")
    @classmethod
    def _zero_is_off(cls, v: float | None) -> float | None:
        return None if v is not None and v <= 0 else v

    @model_validator(mode="after")
    def _pooler_needs_postgres(self) -> "Settings":
        if self.database_pooler != "none" and self.is_sqlite:
            raise ValueError("BANDIT_ROUTER_DATABASE_POOLER applies to PostgreSQL only; the "
                             "database URL is SQLite (unset the pooler, or point the URL at "
                             "PgBouncer)")
        return self

    @model_validator(mode="after")
    def _prune_needs_a_mass(self) -> "Settings":
        if self.floor_prune > 0 and self.floor_mass <= 0:
            raise ValueError("BANDIT_ROUTER_FLOOR_PRUNE needs BANDIT_ROUTER_FLOOR_MASS > 0 (the "
                             "mass it spreads over the models it does not prune); set both, or "
                             "FLOOR_PRUNE=0")
        return self

    @model_validator(mode="after")
    def _family_directions_need_the_subspace(self) -> "Settings":
        if self.prior_family_directions > 0 and (subspace.parse(self.prior_subspace) is None
                                                 or self.prior_pool > 0):
            raise ValueError("BANDIT_ROUTER_PRIOR_FAMILY_DIRECTIONS needs the subspace prior "
                             "(its directions are the subspace's leading ones): set "
                             "BANDIT_ROUTER_PRIOR_SUBSPACE (e.g. evidence) and PRIOR_POOL=0, "
                             "or FAMILY_DIRECTIONS=0")
        return self

    @model_validator(mode="after")
    def _word_block_size(self) -> "Settings":
        from bandit_router.features.semantic import DIMS

        if self.feature_words == "wordllama" and self.feature_buckets not in DIMS:
            raise ValueError(
                f"BANDIT_ROUTER_FEATURE_BUCKETS={self.feature_buckets}: WordLlama embeddings "
                f"have {', '.join(map(str, DIMS))} dimensions; choose one of them (or set "
                "BANDIT_ROUTER_FEATURE_WORDS=hashed)")
        return self

    def feature_spec(self) -> FeatureSpec:
        """The request features these settings describe."""
        return FeatureSpec(words=self.feature_words, n_buckets=self.feature_buckets,
                           max_ngram=self.feature_ngrams, n_caller=self.feature_caller_slots)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.get_secret_value().startswith("sqlite")

    def policy_spec(self) -> PolicySpec:
        """The policy and learner these settings describe (half-life in seconds)."""
        drift = (DriftDetector(threshold=self.drift_threshold, keep=self.drift_keep)
                 if self.drift_detection else None)
        return PolicySpec(kind=self.policy, propensity_floor=self.propensity_floor,
                          floor_mass=self.floor_mass, floor_prune=self.floor_prune,
                          floor_bounded=self.floor_bounded, truncate=self.thompson_truncate,
                          alpha=self.linucb_alpha, half_life=self.half_life_s, drift=drift,
                          learn_cost=self.learn_cost,
                          prior=Prior(precision=self.prior_precision,
                                      optimism=self.prior_optimism,
                                      exploration=self.exploration,
                                      bias_precision=self.prior_bias_precision,
                                      tail_precision=self.prior_tail_precision,
                                      evidence=self.prior_evidence, pool=self.prior_pool,
                                      tail_exploration=self.prior_tail_exploration,
                                      optimism_quantile=self.prior_optimism_quantile,
                                      subspace=self.prior_subspace,
                                      shared=self.prior_shared,
                                      family_directions=self.prior_family_directions,
                                      words=self.feature_buckets,
                                      # evidence's noise update goes with it; "none" is the
                                      # fixed prior of before, whole
                                      noise_dof=0.0 if self.prior_evidence == "none" else 1.0,
                                      head=1 + N_DENSE))

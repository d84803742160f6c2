"""The charge rule: what a decision costs its tenant's budget once its feedback is in.

Pure: the feedback committer (``store.writer``) gathers a :class:`Charging` inside its
transaction and calls :func:`charged`, which looks nothing up.
"""

from __future__ import annotations

from bandit_router.store.writer import Charging


def charged(c: Charging) -> float:
    """The service's own figure is the proxy's measured cost (``usage_cost_usd``), else the
    estimate made when routing. What the app reports (``cost_usd``, else its tokens × the
    model's prices) can raise the charge above that, never lower it: otherwise an app could
    lift its own hard budget by reporting ``cost_usd: 0``. It is taken as reported only from
    a trusted reporter (``c.trusted``: the service itself, the operator key, or a tenant the
    operator marked ``trust_reported_cost``)."""
    measured = c.usage_cost_usd if c.usage_cost_usd is not None else c.estimated_cost_usd
    reported = reported_cost(c)
    if reported is None:
        return measured
    return reported if c.trusted else max(reported, measured)


def reported_cost(c: Charging) -> float | None:
    """The feedback's ``cost_usd``, else its tokens × the model's prices, else None."""
    o = c.outcome
    if o.cost_usd is not None:
        return o.cost_usd
    if (o.input_tokens is None and o.output_tokens is None) or c.model is None:
        return None
    n_in = o.input_tokens if o.input_tokens is not None else c.input_tokens_est
    n_out = o.output_tokens if o.output_tokens is not None else c.output_tokens_est
    return c.model.cost_usd(n_in, n_out)

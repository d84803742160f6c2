"""One process's running service, one module per job.

``root`` wires it together (:class:`Service`, the composition root); ``decisions`` decides
and logs, reserving a budgeted tenant's money in the same transaction; ``feedback`` records
outcomes exactly once and ``charge`` says what a decision costs; ``auth`` knows who calls;
``sync`` keeps the router's runtime snapshot current.
"""

from bandit_router.service.root import Service

__all__ = ["Service"]

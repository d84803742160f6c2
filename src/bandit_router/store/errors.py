"""Domain errors raised by the store; the API maps each to one HTTP status in one place."""


class StoreError(Exception):
    """Base class; ``str(exc)`` is a message for the caller that says what to fix."""


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    pass


class TimedOut(StoreError):
    """A query gave up after the time its caller gave it (Postgres's statement or lock
    timeout): the database is up, but did not answer in time."""

"""How much more one call may try once a round of accounts is spent, and the error that is ours."""

from __future__ import annotations

import random
from dataclasses import dataclass

from cliproxy.config.schema import Config
from cliproxy.errors import Blame, Outcome, ProxyError
from cliproxy.pool.shortage import Exhausted

# An upstream blip with no other account left is retried on the same one after a short, jittered
# backoff: this many times, the first after about TRANSIENT_BACKOFF seconds, then doubling.
TRANSIENT_RETRIES = 2
TRANSIENT_BACKOFF = 0.5


def internal_error(request_id: str) -> ProxyError:
    """Our own failure: a 500 that names the request, so its log lines can be found. No account pays."""
    return ProxyError(500, f"internal error in the proxy (request {request_id}); the log says more",
                      code="internal_server_error", type="server_error", outcome=Outcome.INTERNAL)


@dataclass(slots=True)
class RetryBudget:
    """How much more one call may try once a round of accounts is spent.

    ``max_accounts`` bounds the distinct accounts of one round (``max-retry-credentials``, 0 = all).
    ``rounds`` waiting rounds (``request-retry``) each wait for the soonest account to come back, when
    that is within ``max_wait`` seconds (``max-retry-interval``; 0 = never wait), as CLIProxyAPI does.
    Apart from those, a transient failure of the upstream is retried on the same account after a
    short backoff when no other account is left, so one blip never reaches a one-account user.
    """

    max_accounts: int = 0
    rounds: int = 0
    max_wait: float = 0.0
    transient: int = TRANSIENT_RETRIES
    # After a backoff, the accounts the next round may try (those of the round before); None = any.
    again: set[str] | None = None

    @classmethod
    def of(cls, config: Config) -> RetryBudget:
        """CLIProxyAPI's ``streaming.bootstrap-retries`` (whole new tries of a stream that failed before
        its first byte) add to the same-account retries: here every attempt before content fails over
        anyway, so what is left to grant is more tries when no other account is ready."""
        return cls(config.max_retry_credentials, config.request_retry, float(config.max_retry_interval),
                   transient=TRANSIENT_RETRIES + config.streaming.bootstrap_retries)

    def more_accounts(self, tried: int) -> bool:
        return not self.max_accounts or tried < self.max_accounts

    def backoff(self, exhausted: Exhausted | None, last_error: ProxyError | None) -> float | None:
        """Seconds to wait before trying the accounts already tried once more, after the upstream's
        blip with no other account left (none ready, or the account budget spent); else None.

        Never sooner than the upstream asked (``Retry-After``): a retry before then meets the same
        answer. A wait longer than the backoff's own is made only within ``max_wait``; else the
        client is told, with the upstream's time, and retries when it chooses.
        """
        if last_error is None or last_error.blame is not Blame.UPSTREAM or self.transient <= 0 or (
                exhausted is not None and not exhausted.shortage.tried):
            return None
        step = max(TRANSIENT_RETRIES - self.transient, 0)
        seconds = TRANSIENT_BACKOFF * 2.0**step * random.uniform(0.5, 1.0)
        asked = last_error.retry_after or 0.0
        if asked > seconds:
            if asked > max(self.max_wait, TRANSIENT_BACKOFF * 2.0 ** (TRANSIENT_RETRIES - 1)):
                return None
            seconds = asked
        self.transient -= 1
        return seconds

    def wait(self, exhausted: Exhausted | None, last_error: ProxyError | None) -> float | None:
        """Seconds to wait before a new round with every account, or None: the call ends with its error."""
        if self.rounds <= 0 or self.max_wait <= 0 or (last_error is not None and last_error.blame is Blame.REQUEST):
            return None
        soonest = exhausted.shortage.soonest_wait() if exhausted is not None else last_error_wait(last_error)
        if soonest is None or soonest > self.max_wait:
            return None
        self.rounds -= 1
        return soonest


def last_error_wait(error: ProxyError | None) -> float | None:
    """A 429's own Retry-After, when the round ended on the account budget rather than the pool."""
    if error is None or error.status != 429 or error.retry_after is None:
        return None
    return error.retry_after


__all__ = ["TRANSIENT_BACKOFF", "TRANSIENT_RETRIES", "RetryBudget", "internal_error", "last_error_wait"]

"""One client request's attempts, under the one streaming rule (docs/architecture.md).

1. Until the response is committed, a failure is an ordinary HTTP error with its real status:
   ``stream()`` raises ProxyError before its first yield.
2. The response is committed at the first content frame for the client or the first keepalive;
   preamble frames (``response.created``…) are held back until then (``Channel.hold``).
3. Until a content frame reached the client, a failed attempt fails over to another account;
   preamble frames already sent are not sent again.
4. After content, a failure is exactly one error event in the client's dialect, then the end.

Routes make one call per mode (``stream``, ``complete``, ``compact``) with a ``Call``, the frozen
inputs of one client request; what the call produced (usage, the serving account, the time of first
content, a late error) lands in a ``CallResult`` the route hands in and its observers read afterwards.
Each attempt is one call to the upstream, ``Upstream.stream(credential, request)``, which builds the
wire request itself from an ``UpstreamRequest`` in Responses terms.

Reading the upstream runs in its own task (the pump) and hands frames to the client side through
a small channel, so keepalives can be written during silences without cancelling a read, and
frames that arrive together go out in one write.

The pool decides which account tries next (``Pool.pick``, with the call's session for affinity)
and learns from every attempt: its outcome (``record``) and the quota the backend reported
(``observe_headers``, ``observe_event``). Codex CLI is shown the pool's quota, not the serving
account's: its ``codex.rate_limits`` event is rewritten with the pool view. When no account is
left, the pool's ``Exhausted`` becomes one aggregated error in the client's dialect.
"""

from cliproxy.runner.budget import RetryBudget, internal_error
from cliproxy.runner.call import Call, CallResult
from cliproxy.runner.core import Runner

__all__ = ["Call", "CallResult", "RetryBudget", "Runner", "internal_error"]

"""The pool of accounts: selection, rests, affinity, quota windows, the poller and the state store."""

"""Whether a bind address is reachable from other machines, and whether a config would leave such a
bind open to anyone who can reach it.

A server on a public address without ``api-keys`` lets anyone on the network spend the accounts'
quota. ``serve`` refuses to start that way, and every later change (a file edit, a management
write) that would lead there is refused with :class:`OpenToTheNetwork`, keeping the keys in force.
"""

from __future__ import annotations

import ipaddress

from cliproxy.config.schema import Config, ConfigError


class OpenToTheNetwork(ConfigError):
    """A config that would serve anyone on a non-loopback bind: no client key is set."""


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP (v4 or v6, bracketed or not); any other name is not."""
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def open_to_the_network(config: Config, bind_host: str) -> bool:
    return not config.requires_key and not is_loopback(bind_host)


def refusal(bind_host: str) -> str:
    """What to tell the user when ``open_to_the_network`` holds."""
    return (f"refusing to serve {bind_host!r} without client API keys: anyone who can reach this port "
            "could spend your ChatGPT quota. Set `api-keys` in the config, or bind 127.0.0.1.")


def check_exposure(config: Config, bind_host: str) -> None:
    """Raise ``OpenToTheNetwork`` for a config that would leave ``bind_host`` open to anyone."""
    if open_to_the_network(config, bind_host):
        raise OpenToTheNetwork(refusal(bind_host))


__all__ = ["OpenToTheNetwork", "check_exposure", "is_loopback", "open_to_the_network", "refusal"]

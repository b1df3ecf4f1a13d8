"""``cliproxy doctor``'s checks, one module per concern, each returning ``Finding``s: plain data
that the command prints one line each. No click here, so each check is tested on its own; the
network ones take their address and timeout as arguments, so tests point them at loopback."""

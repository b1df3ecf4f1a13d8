"""The management API (``/v0/management``): accounts, settings, logins, logs and usage."""

"""The failures of login and refresh, each carrying what the user needs to act.

``str(error)`` is the technical text (CPA's wording, which tests may match); ``friendly`` is the one
line the CLI shows. Neither ever contains a token, a code or a verifier: error bodies from the
issuer pass through :func:`redact` before they land in a message.
"""

from __future__ import annotations

import re

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_SECRET_PARAM = re.compile(
    r"((?:code|state|code_verifier|subject_token|[a-z_]*_token)=)[^&\s\"']+", re.IGNORECASE
)
_SECRET_JSON = re.compile(
    r'("(?:code_verifier|[a-z_]*token|[a-z_]*key)"\s*:\s*)"[^"]*"', re.IGNORECASE
)
_MAX_BODY = 500


def redact(text: str) -> str:
    """Mask JWTs and secret-looking URL parameters, and bound the length (for error bodies, URLs)."""
    text = _JWT.sub("[redacted-jwt]", text)
    text = _SECRET_PARAM.sub(r"\1[redacted]", text)
    text = _SECRET_JSON.sub(r'\1"[redacted]"', text)
    if len(text) > _MAX_BODY:
        text = text[:_MAX_BODY] + "…"
    return text


class AuthError(Exception):
    """Base of every login, device-flow, paste and refresh failure."""

    @property
    def friendly(self) -> str:
        return str(self)


# kind -> (message, code) as in CPA internal/auth/codex/errors.go; port_in_use's code is the exit code.
AUTHENTICATION_KINDS: dict[str, tuple[str, int]] = {
    "invalid_state": ("OAuth state parameter is invalid", 400),
    "code_exchange_failed": ("Failed to exchange authorization code for tokens", 400),
    "server_start_failed": ("Failed to start OAuth callback server", 500),
    "port_in_use": ("OAuth callback port is already in use", 13),
    "callback_timeout": ("Timeout waiting for OAuth callback", 408),
    "browser_open_failed": ("Failed to open browser for authentication", 500),
}

PORT_IN_USE_EXIT_CODE = 13


class AuthenticationError(AuthError):
    """A login step failed: ``kind`` is one of :data:`AUTHENTICATION_KINDS`."""

    def __init__(self, kind: str, cause: str = "", *, port: int = 0) -> None:
        self.kind = kind
        self.message, self.code = AUTHENTICATION_KINDS.get(kind, ("Authentication failed", 500))
        self.cause = cause
        self.port = port
        text = f"{kind}: {self.message}" + (f" (caused by: {cause})" if cause else "")
        super().__init__(text)

    @property
    def friendly(self) -> str:
        if self.kind == "callback_timeout":
            return "Authentication timed out. Please try again."
        if self.kind == "port_in_use":
            return (f"The required port {self.port} is already in use. Close the application using it, "
                    "or choose another one with --callback-port, and try again.")
        if self.kind == "browser_open_failed":
            return "Could not open your browser automatically. Please copy and paste the URL manually."
        if self.kind == "invalid_state":
            return ("Login response did not match this login attempt (state mismatch). "
                    "Please try again.")
        detail = f" ({self.cause})" if self.cause else ""
        return f"Authentication failed{detail}. Please try again."


ENTITLEMENT_MESSAGE = ("Codex is not enabled for your workspace. Contact your workspace administrator "
                       "to request access to Codex.")

_OAUTH_FRIENDLY = {
    "access_denied": "Authentication was cancelled or denied.",
    "invalid_request": "Invalid authentication request. Please try again.",
    "server_error": "Authentication server error. Please try again later.",
}


class OAuthError(AuthError):
    """The issuer sent the browser back with ``error=...`` (or the user pasted such a URL)."""

    def __init__(self, error: str, description: str = "") -> None:
        self.error = error
        self.description = description
        text = f"OAuth error {error}: {description}" if description else f"OAuth error: {error}"
        super().__init__(redact(text))

    @property
    def friendly(self) -> str:
        if self.error == "access_denied" and "missing_codex_entitlement" in self.description:
            return ENTITLEMENT_MESSAGE
        if self.error in _OAUTH_FRIENDLY:
            return _OAUTH_FRIENDLY[self.error]
        return f"Authentication failed: {redact(self.description or self.error)}"


class CallbackInputError(AuthError):
    """A pasted callback URL that cannot be used (``invalid callback URL``, ``... missing code``)."""


class AccountInfoError(AuthError):
    """Tokens were issued but carry no email: the account cannot be stored, as in CPA."""

    def __init__(self) -> None:
        super().__init__("codex token storage missing account information")


class DeviceFlowError(AuthError):
    """The device-code flow failed; messages are CPA's."""


# Refresh-failure reasons and the sentence the user reads for each (Codex CLI's wording).
REFRESH_REASONS: dict[str, tuple[str, str]] = {
    "refresh_token_expired": ("expired", "its refresh token has expired"),
    "refresh_token_reused": ("reused", "its refresh token was already used"),
    "refresh_token_invalidated": ("revoked", "its refresh token was revoked"),
    "invalid_grant": ("invalid", "the issuer rejected its refresh token (invalid_grant)"),
}


class RefreshError(AuthError):
    """A refresh call failed. ``permanent`` failures need a new login; others are retried later.

    ``retryable`` says whether retrying right away (CPA's 3 attempts) could help: 5xx, 429 and
    connection failures; never a timeout, which already waited 30 s.
    """

    def __init__(self, text: str, *, permanent: bool, status: int = 0, code: str = "",
                 retryable: bool = False) -> None:
        super().__init__(redact(text))
        self.permanent = permanent
        self.status = status
        self.code = code
        self.retryable = retryable and not permanent

    @property
    def reason(self) -> str:
        """``expired``, ``reused``, ``revoked``, ``invalid`` or ``other`` (permanent), else ``transient``."""
        if not self.permanent:
            return "transient"
        return REFRESH_REASONS.get(self.code, ("other", ""))[0]

    @property
    def explanation(self) -> str:
        """Why the account needs a new login, as a clause: "its refresh token was revoked"."""
        return REFRESH_REASONS.get(self.code, ("", "its token could not be refreshed"))[1]

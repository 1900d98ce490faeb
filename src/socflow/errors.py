"""One exception tree for the whole project, grouped by what a caller can do about it.

Adapters translate these once, at their edge: a Cortex ``success:false``, a CLI exit code with a
one-line message, a retry or a dead letter in the bridge, an HTTP status in the blocklist service.
Messages must never contain secrets.
"""

from __future__ import annotations


class SocflowError(Exception):
    """Root of every error socflow raises on purpose."""


class ConfigError(SocflowError):
    """A configuration value is missing or wrong; the user must fix it."""


class PrivateStateError(ConfigError):
    """State (cache, outbox, block list) that another user owns or may write: refused on open."""


class InputError(SocflowError):
    """An input (file, observable, log line) cannot be used as given."""


class PolicyError(SocflowError):
    """An action is refused by policy (TLP/PAP, allowlist, private range)."""


class RefusedError(PolicyError):
    """A worker refused what it was asked by policy (the block list's own, allowlisted, private
    or documentation rules): an outcome a playbook records, not a fault (``socflow.refusal``)."""

    def __init__(self, message: str, *, codes: tuple[str, ...] = (), reason: str = "",
                 job: str | None = None) -> None:
        super().__init__(message)
        self.codes, self.reason, self.job = codes, reason, job


class ProviderError(SocflowError):
    """An external service (VirusTotal, AbuseIPDB, OTX, TheHive, …) failed."""

    def __init__(self, message: str, *, service: str = "") -> None:
        super().__init__(message)
        self.service = service


class AuthError(ProviderError):
    """The service refused our credentials (401/403)."""


class QuotaError(ProviderError):
    """The service quota is exhausted; ``resets_at`` is an epoch second when known."""

    def __init__(self, message: str, *, service: str = "", resets_at: float | None = None) -> None:
        super().__init__(message, service=service)
        self.resets_at = resets_at


class NotFoundError(ProviderError):
    """The service does not know the indicator (a normal answer for lookups)."""


class UnavailableError(ProviderError):
    """The service is down, slow or answered garbage; retrying later may work."""


class DeliveryError(SocflowError):
    """An alert could not be delivered; ``permanent`` says whether retrying can help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def validation_summary(exc: Exception, default_location: str = "") -> str:
    """First problem of a pydantic ``ValidationError`` as ``location: message`` (one line).

    Duck-typed so the core needs no pydantic import here; any other exception is ``str(exc)``.
    """
    errors = getattr(exc, "errors", None)
    if not callable(errors) or not errors():
        return str(exc)
    first = errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or default_location
    message = str(first.get("msg", exc)).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


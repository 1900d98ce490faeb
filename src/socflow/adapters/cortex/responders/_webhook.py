"""Chat and generic webhooks: one payload shape per destination, one bounded POST.

Payloads (incoming webhooks as their vendors document them; see docs/responders.md):
Slack ``{"text"}`` with mrkdwn; Mattermost ``{"text"}`` with Markdown; Microsoft Teams (Workflows /
Power Automate "post to a channel when a webhook request is received") a ``message`` with one
Adaptive Card attachment; ``json`` a flat object for anything else (SOAR, n8n, a ticket system).

Where the POST may go is decided by :mod:`socflow.outbound`, the policy every outbound client
shares: no loopback, link-local or metadata target unless ``allow_private_targets``, redirects
only on the same host and never from https to http, and a redirect that turns the POST into a
GET is a failure (the message was not delivered, whatever the final status).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import requests
from msgspec import Meta
from urllib3.util.retry import Retry

from .... import outbound
from ....config import Secret
from ....errors import AuthError, DeliveryError, UnavailableError
from ._settings import ResponderSettings

Format = Literal["slack", "teams", "mattermost", "json"]
# How {{ values }} are escaped for each destination (see _render.ESCAPERS).
ESCAPE: dict[str, str] = {
    "slack": "slack",
    "teams": "markdown",
    "mattermost": "markdown",
    "json": "plain",
}


class WebhookSettings(ResponderSettings, kw_only=True):
    webhook_url: Secret
    format: Format = "slack"
    timeout: Annotated[float, Meta(gt=0, le=300)] = 15.0
    verify_tls: bool = True
    allow_private_targets: bool = False


def payload(fmt: str, subject: str, body: str, values: dict[str, Any]) -> dict[str, Any]:
    if fmt == "slack":
        return {"text": f"*{subject}*\n{body}"}
    if fmt == "mattermost":
        return {"text": f"#### {subject}\n{body}"}
    if fmt == "teams":
        card: dict[str, Any] = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {
                    "type": "TextBlock",
                    "text": subject,
                    "weight": "Bolder",
                    "size": "Medium",
                    "wrap": True,
                },
                {"type": "TextBlock", "text": body, "wrap": True},
            ],
        }
        if values.get("link"):
            card["actions"] = [
                {"type": "Action.OpenUrl", "title": "Open in TheHive", "url": values["link"]}
            ]
        return {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": None,
                    "content": card,
                }
            ],
        }
    return {
        "subject": subject,
        "body": body,
        "kind": values["kind"],
        "id": values["id"],
        "title": values["title"],
        "severity": values["severity"],
        "tags": values["tags"],
        "tlp": values["tlp"],
        "pap": values["pap"],
        "link": values["link"] or None,
        "requested_by": values["user"] or None,
    }


def post(settings: WebhookSettings, body: dict[str, Any]) -> int:
    """POST once (retrying only refused connections and 429s); returns the HTTP status."""
    url = settings.webhook_url.get_secret_value()
    outbound.check_target(
        url, allow_private=settings.allow_private_targets, what="configuration item webhook_url"
    )
    retry = Retry(
        total=2,
        connect=2,
        read=0,
        status=2,
        status_forcelist=(429,),
        backoff_factor=1,
        allowed_methods=frozenset({"POST"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = outbound.guarded_session(
        allow_private=settings.allow_private_targets, max_retries=retry
    )
    try:
        resp = session.post(
            url,
            json=body,
            timeout=settings.timeout,
            verify=settings.verify_tls,
            headers={"User-Agent": "socflow-responder"},
        )
    except requests.exceptions.SSLError:
        raise DeliveryError(
            "TLS verification of the webhook endpoint failed", permanent=True
        ) from None
    except requests.RequestException as exc:
        raise UnavailableError(
            f"cannot reach the webhook endpoint ({type(exc).__name__})", service="webhook"
        ) from None
    if resp.history and resp.request.method != "POST":
        raise DeliveryError(
            f"the webhook endpoint redirected the POST (HTTP {resp.history[0].status_code}) and "
            "the client would have sent a GET: not delivered",
            permanent=True,
        )
    if 300 <= resp.status_code < 400:
        raise DeliveryError(
            f"the webhook endpoint answered HTTP {resp.status_code} (a redirect that was not "
            "followed): not delivered",
            permanent=True,
        )
    if resp.status_code in (401, 403):
        raise AuthError(
            f"the webhook endpoint refused the request (HTTP {resp.status_code}: "
            f"{resp.text[:120]})",
            service="webhook",
        )
    if not 200 <= resp.status_code < 300:
        raise DeliveryError(
            f"the webhook endpoint answered HTTP {resp.status_code}: {resp.text[:200]}",
            permanent=400 <= resp.status_code < 500,
        )
    return resp.status_code

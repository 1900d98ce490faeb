"""Authentication results: which Authentication-Results to believe, what they say, DMARC
alignment computed ourselves, and DKIM body hashes checked offline.

Trust (RFC 8601 §5, §7.1; fact sheet §1.2, §1.7): a field is believed only when it carries an
authserv-id of a receiver the policy trusts *and* sits in the part of the header written by that
receiver (above the first Received field below the trusted edge hop); of those, the topmost one
wins (fields are prepended, so the sender's own copies always sit below the receiver's).
Microsoft 365 writes its results with no authserv-id: they are believed when Exchange Online's
inbound edge delivered the message (``trust_microsoft365``). Everything else is listed as ignored;
a copy that claims a pass where only the sender could have written it is a finding.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from ..extract.validate import registered_domain
from .model import AuthResults, Finding

MAX_FIELD = 8192
_SENDER_FIELDS = frozenset({"from", "subject", "date", "message-id", "to", "mime-version"})
_TOKEN = re.compile(r'([A-Za-z0-9_.\-/]{1,64})\s*=\s*("(?:[^"\\]|\\.){0,512}"|[^\s;]{0,512})')


def strip_comments(value: str) -> str:
    """Remove RFC 5322 comments ``( … )`` (nested, with quoted pairs); linear."""
    out: list[str] = []
    depth = 0
    escaped = False
    quoted = False
    for ch in value[:MAX_FIELD]:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
            continue
        if ch == "\\":
            escaped = True
            if depth == 0:
                out.append(ch)
            continue
        if ch == '"' and depth == 0:
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
            continue
        elif not quoted and ch == ")" and depth:
            depth -= 1
            continue
        if depth == 0:
            out.append(ch)
    return "".join(out)


def parse_authres(value: str) -> tuple[str | None, list[dict[str, str]]]:
    """(authserv-id or None when there is none, [{"method", "result", prop: value…}])."""
    text = " ".join(strip_comments(value).split())
    segments = [s.strip() for s in text.split(";")]
    authserv: str | None = None
    if segments and "=" not in segments[0].split(" ", 1)[0]:
        head = segments.pop(0).split()
        authserv = head[0].lower() if head else ""
    results = []
    for seg in segments:
        tokens = _TOKEN.findall(seg)
        if not tokens:
            continue
        method, result = tokens[0]
        entry = {"method": method.lower(), "result": result.strip('"').lower()}
        for key, val in tokens[1:]:
            entry.setdefault(key.lower(), val.strip('"'))
        results.append(entry)
    return authserv, results


def _domain_of(value: str) -> str:
    value = value.strip().strip("<>").lower()
    return value.rpartition("@")[2].rstrip(".")


def org(domain: str) -> str:
    return registered_domain(domain) if domain else ""


def select(fields: list[tuple[int, str, str]], trusted_ids: list[str], receiver: str,
           zone_end: int) -> tuple[AuthResults, list[Finding]]:
    """Pick the believed Authentication-Results among ``fields`` ((index, name, value), top
    first) and list the rest. ``zone_end``: index of the first header field not written by the
    trusted receiver's side."""
    auth = AuthResults()
    findings: list[Finding] = []
    chosen: tuple[int, list[dict[str, str]]] | None = None
    chosen_spf: tuple[int, str, str] | None = None
    forged: list[dict[str, str]] = []
    # Where the message's own header block starts: receivers prepend their fields above it, so an
    # authentication claim inside it was written by whoever wrote From/Subject — the sender.
    own_block = min((i for i, n, _ in fields if n in _SENDER_FIELDS), default=len(fields))
    for index, name, value in fields:
        if name == "authentication-results":
            authserv, results = parse_authres(value)
            believable = index < zone_end and (
                (authserv is not None and authserv in trusted_ids)
                or (authserv is None and receiver == "microsoft365")
                or (authserv == "mx.google.com" and receiver == "google"))
            if believable and chosen is None:
                chosen = (index, results)
                auth.source = (f"authserv-id {authserv}" if authserv else "microsoft365")
                continue
            claims_pass = any(r["result"] in ("pass", "bestguesspass") and r["method"] in (
                "spf", "dkim", "dmarc", "arc", "compauth") for r in results)
            sender_written = index > own_block or (
                authserv is not None and authserv in trusted_ids) or (
                authserv is None and receiver == "microsoft365" and index >= zone_end)
            auth.ignored.append({"field": "Authentication-Results",
                                 "authserv_id": authserv if authserv is not None else "(none)",
                                 "text": value[:300]})
            if claims_pass and sender_written:
                forged.append({"field": "Authentication-Results",
                               "authserv_id": authserv if authserv is not None else "(none)",
                               "text": value[:300]})
        elif name == "received-spf":
            parts = value.strip().split(None, 1)
            result = parts[0].lower().rstrip(";") if parts else ""
            if index < zone_end and receiver and chosen_spf is None:
                m = re.search(r"envelope-from=\"?<?([^\s;\">]{1,255})", value)
                chosen_spf = (index, result, m.group(1) if m else "")
            else:
                auth.ignored.append({"field": "Received-SPF", "authserv_id": "", "text": value[:300]})
                if result == "pass" and index > own_block:
                    forged.append({"field": "Received-SPF", "authserv_id": "", "text": value[:300]})
        elif name == "arc-authentication-results":
            body = re.sub(r"^\s*i\s*=\s*\d+\s*;", "", value)
            authserv, results = parse_authres(body)
            if not (index < zone_end and authserv in trusted_ids):
                auth.ignored.append({"field": "ARC-Authentication-Results",
                                     "authserv_id": authserv or "(none)", "text": value[:300]})
                if index > own_block and any(r["result"] == "pass" for r in results):
                    forged.append({"field": "ARC-Authentication-Results",
                                   "authserv_id": authserv or "(none)", "text": value[:300]})
    if chosen is not None:
        for r in chosen[1]:
            method, result = r["method"], r["result"]
            if method == "spf" and not auth.spf:
                auth.spf = result
                auth.spf_domain = _domain_of(r.get("smtp.mailfrom") or r.get("smtp.helo") or "")
            elif method == "dkim":
                auth.dkim.append({"result": result,
                                  "domain": _domain_of(r.get("header.d") or r.get("header.i") or ""),
                                  "selector": r.get("header.s", "")})
            elif method == "dmarc" and not auth.dmarc:
                auth.dmarc = result
                auth.dmarc_from = _domain_of(r.get("header.from", ""))
            elif method == "arc" and not auth.arc:
                auth.arc = result
            elif method == "compauth" and not auth.compauth:
                auth.compauth = result
                auth.compauth_reason = r.get("reason", "")
    if not auth.spf and chosen_spf is not None:
        auth.spf = chosen_spf[1]
        auth.spf_domain = _domain_of(chosen_spf[2])
        auth.source = auth.source or "Received-SPF"
    if forged:
        findings.append(Finding(
            "auth.forged_results",
            f"{len(forged)} authentication header(s) claiming a pass were written outside the "
            "trusted receiver (added by the sender or a relay)",
            {"fields": forged[:5]}))
    return auth, findings


def align(auth: AuthResults, from_domain: str) -> None:
    """Relaxed DMARC identifier alignment (RFC 7489 §3.1) of the From domain with the passing
    DKIM d= and SPF MAIL FROM, organisational domains by the Public Suffix List (ICANN)."""
    if not auth.source or not from_domain:
        return
    target = org(from_domain)
    for sig in auth.dkim:
        if sig["result"] == "pass" and sig["domain"] and org(sig["domain"]) == target:
            auth.aligned, auth.aligned_by = True, "dkim"
            return
    if auth.spf == "pass" and auth.spf_domain and org(auth.spf_domain) == target:
        auth.aligned, auth.aligned_by = True, "spf"
        return
    auth.aligned = False


def judge(auth: AuthResults, from_domain: str, own_domains: list[str]) -> list[Finding]:
    findings: list[Finding] = []
    if not auth.source:
        findings.append(Finding(
            "auth.none", "no authentication results from a trusted receiver",
            {"ignored": len(auth.ignored)}))
        return findings
    ev: dict[str, Any] = {"source": auth.source, "spf": auth.spf, "dmarc": auth.dmarc,
                          "dkim": [d["result"] for d in auth.dkim], "from": from_domain}
    if auth.dmarc == "fail":
        findings.append(Finding("auth.dmarc_fail", f"DMARC failed for {from_domain or 'the From domain'}", ev))
    elif auth.dmarc == "pass":
        findings.append(Finding("auth.dmarc_pass", f"DMARC passed for {from_domain}", ev))
    if auth.compauth == "fail" and auth.dmarc != "fail":
        findings.append(Finding(
            "auth.compauth_fail",
            f"Microsoft composite authentication failed (reason {auth.compauth_reason or '?'})",
            {**ev, "reason": auth.compauth_reason}))
    if auth.spf == "fail":
        findings.append(Finding("auth.spf_fail", f"SPF failed for {auth.spf_domain or '?'}", ev))
    elif auth.spf == "softfail":
        findings.append(Finding("auth.spf_softfail", f"SPF soft-failed for {auth.spf_domain or '?'}", ev))
    if auth.dkim and not any(d["result"] == "pass" for d in auth.dkim) and any(
            d["result"] in ("fail", "permerror") for d in auth.dkim):
        findings.append(Finding("auth.dkim_fail", "no DKIM signature verified", ev))
    if auth.aligned is False and auth.dmarc not in ("pass", "fail", "bestguesspass"):
        findings.append(Finding(
            "auth.not_aligned",
            f"neither SPF nor DKIM passed for the From domain {from_domain}", ev))
    if from_domain and own_domains and org(from_domain) in {org(d) for d in own_domains} \
            and not auth.aligned and auth.dmarc != "pass":
        findings.append(Finding(
            "auth.own_domain_spoof",
            f"claims to come from your own domain {from_domain} but does not authenticate", ev))
    return findings


def dkim_body_hashes(signatures: list[str], body: bytes, max_bytes: int) -> list[dict[str, Any]]:
    """Recompute each DKIM-Signature's ``bh=`` over the body as received (no DNS: the
    signature ``b=`` itself needs the public key and is not checked here)."""
    if not signatures:
        return []
    from dkim.canonicalization import CanonicalizationPolicy, InvalidCanonicalizationPolicyError
    from dkim.util import InvalidTagValueList, parse_tag_value

    out: list[dict[str, Any]] = []
    if len(body) > max_bytes:
        return [{"domain": "", "result": "not checked (body larger than the scan cap)"}]
    body = re.sub(rb"(?<!\r)\n", b"\r\n", body)
    for value in signatures[:5]:
        entry: dict[str, Any] = {"domain": "", "selector": "", "result": "error"}
        try:
            tags = parse_tag_value(" ".join(value.split()).encode("utf-8", "replace"))
            entry["domain"] = tags.get(b"d", b"").decode("ascii", "replace").lower()
            entry["selector"] = tags.get(b"s", b"").decode("ascii", "replace")
            algo = tags.get(b"a", b"rsa-sha256").lower()
            digest = hashlib.sha1 if algo.endswith(b"sha1") else hashlib.sha256
            policy = CanonicalizationPolicy.from_c_value(tags.get(b"c", b"simple/simple"))
            canon = policy.canonicalize_body(body)
            if b"l" in tags:
                entry["length_tag"] = int(tags[b"l"])
                canon = canon[: int(tags[b"l"])]
            expected = base64.b64decode(re.sub(rb"\s", b"", tags.get(b"bh", b"")))
            entry["result"] = "match" if digest(canon).digest() == expected else "mismatch"
        except (InvalidTagValueList, InvalidCanonicalizationPolicyError, ValueError, KeyError,
                TypeError, base64.binascii.Error) as exc:  # type: ignore[attr-defined]
            entry["result"] = f"error: {type(exc).__name__}"
        out.append(entry)
    return out


def body_hash_findings(checks: list[dict[str, Any]]) -> list[Finding]:
    findings: list[Finding] = []
    results = [c["result"] for c in checks]
    if "mismatch" in results and "match" not in results:
        findings.append(Finding(
            "auth.dkim_body_hash_mismatch",
            "the body differs from what the DKIM signature covers (altered after signing)",
            {"signatures": checks}))
    if any("length_tag" in c for c in checks):
        findings.append(Finding(
            "auth.dkim_length_tag",
            "a DKIM signature covers only part of the body (l= tag): text may have been appended",
            {"signatures": [c for c in checks if "length_tag" in c]}))
    return findings

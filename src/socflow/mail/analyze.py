"""One message in, one :class:`MailReport` out: the mail stage's entry point.

read (bounded) → parse (fenced) → unwrap a user's report → authentication, origin, identity,
content, attachments → indicators through the core extractor → optional enrichment → verdict.
Pure: no network unless an enricher is passed, no files written.
"""

from __future__ import annotations

from collections.abc import Callable
from email.message import Message
from typing import Any

from ..errors import InputError
from ..extract.validate import classify_ip
from ..models import IocType, IpClass
from . import attachments as att_mod
from . import auth as auth_mod
from . import content as content_mod
from . import identity as identity_mod
from . import msg as msg_mod
from .message import (addresses, content_type, filename, header, header_values, is_attachment,
                      parse_bytes, payload_chunks, body_offset, text_of, walk, _decode_words, Blobs)
from .model import Finding, MailReport
from .policy import MailPolicy, load_policy
from .received import order_and_delays, parse_hop, trusted_walk
from .verdict import decide

EnrichHook = Callable[[MailReport], None]
_DEFAULT_POLICY: MailPolicy | None = None
_EXTRACT_CONFIGS: dict[tuple[str, ...], Any] = {}


def default_policy() -> MailPolicy:
    global _DEFAULT_POLICY
    if _DEFAULT_POLICY is None:
        _DEFAULT_POLICY = load_policy()
    return _DEFAULT_POLICY


def analyze_bytes(data: bytes, source: str = "<message>", policy: MailPolicy | None = None,
                  *, unwrap_reports: bool = True, enrich: EnrichHook | None = None) -> MailReport:
    """Analyse one message (RFC 5322 bytes). Raises InputError only when nothing is readable."""
    return _analyze_bytes(data, source, policy, unwrap_reports, enrich, Blobs())


def _analyze_bytes(data: bytes, source: str, policy: MailPolicy | None, unwrap_reports: bool,
                   enrich: EnrichHook | None, blobs: Blobs) -> MailReport:
    policy = policy or default_policy()
    limits = policy.limits
    findings: list[Finding] = []
    if msg_mod.is_msg(data):  # Outlook .msg: read as the MIME message it holds
        data = msg_mod.to_eml(data, source)
    if len(data) > limits.max_message_bytes:
        findings.append(Finding(
            "message.truncated",
            f"message larger than the {limits.max_message_bytes}-byte cap: analysed its first part only",
            {"size": len(data), "cap": limits.max_message_bytes}))
        data = data[: limits.max_message_bytes]
    msg, problems = parse_bytes(data, blobs)
    reporter = None
    if unwrap_reports:
        inner = _reported_message(msg, limits.max_parts, limits.max_depth, blobs)
        if inner is not None:
            inner_bytes, count, outer_name = inner
            reporter = {
                "from": header(msg, "from"), "subject": header(msg, "subject"),
                "date": header(msg, "date"), "message_id": header(msg, "message-id"),
                "attachment": outer_name}
            report = _analyze_bytes(inner_bytes, source, policy, False, None, blobs)
            report.reporter = reporter
            report.reported_message = inner_bytes
            if count > 1:
                report.findings.append(Finding(
                    "report.multiple_messages",
                    f"the report carries {count} messages; the first one was analysed",
                    {"count": count}))
            report.findings.extend(findings)
            if enrich:
                enrich(report)
            decide(report, policy)
            return report
    report = MailReport(source=source)
    report.findings.extend(findings)
    for problem in problems:
        report.findings.append(Finding("message.truncated", problem, {}))
    _analyse(msg, data, report, policy, blobs)
    if enrich:
        enrich(report)
    decide(report, policy)
    return report


def _reported_message(msg: Message, max_parts: int, max_depth: int, blobs: Blobs
                      ) -> tuple[bytes, int, str] | None:
    """The first message attached to ``msg`` (message/rfc822, or an .eml file), how many there
    are, and the attachment's name."""
    found: list[tuple[bytes, str]] = []
    parts, _ = walk(msg, max_parts, max_depth)
    for part, depth in parts:
        if depth == 0:
            continue
        ctype = content_type(part)
        name = filename(part)
        if ctype == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message):
                try:
                    from email.generator import BytesGenerator
                    import io

                    buf = io.BytesIO()
                    BytesGenerator(buf, mangle_from_=False,
                                   policy=inner.policy.clone(max_line_length=0)).flatten(inner)
                    found.append((buf.getvalue(), name or "message/rfc822"))
                except Exception:  # noqa: BLE001 - a broken inner message: analyse the outer
                    continue
            else:
                raw = part.get_payload(decode=True)
                if isinstance(raw, bytes) and raw:
                    found.append((raw, name or "message/rfc822"))
        elif name.lower().endswith(".eml") and is_attachment(part):
            raw = b"".join(payload_chunks(part, blobs))
            if raw:
                found.append((raw, name))
        elif (name.lower().endswith(".msg") or ctype == "application/vnd.ms-outlook") and (
                is_attachment(part)):
            raw = b"".join(payload_chunks(part, blobs))
            if msg_mod.is_msg(raw):
                try:
                    found.append((msg_mod.to_eml(raw, name or "attached .msg"), name))
                except InputError:
                    continue  # not a message after all: an attachment like any other
    if not found:
        return None
    return found[0][0], len(found), found[0][1]


def _header_fields(msg: Message) -> list[tuple[int, str, str]]:
    out = []
    for index, item in enumerate(getattr(msg, "_headers", [])):
        try:
            name, value = item
            out.append((index, str(name).lower(), _decode_words(str(value))))
        except Exception:  # noqa: BLE001
            continue
    return out


def _analyse(msg: Message, data: bytes, report: MailReport, policy: MailPolicy,
             blobs: Blobs) -> None:
    limits = policy.limits
    org_cfg = policy.organisation
    fields = _header_fields(msg)
    try:
        report.defects = [type(d).__name__ for d in getattr(msg, "defects", [])][:50]
    except Exception:  # noqa: BLE001
        report.defects = []
    from_list = addresses(msg, "from")
    report.headers = {
        "subject": header(msg, "subject"), "from": header(msg, "from"), "to": header(msg, "to"),
        "cc": header(msg, "cc"), "reply_to": header(msg, "reply-to"),
        "return_path": header(msg, "return-path"), "sender": header(msg, "sender"),
        "date": header(msg, "date"), "message_id": header(msg, "message-id"),
    }
    # -- origin --------------------------------------------------------------------------
    received = [(i, v) for i, n, v in fields if n == "received"]
    hops_top = [parse_hop(i, v) for i, v in received[:100]]
    count, receiver = trusted_walk(hops_top, org_cfg.receiving_hosts, org_cfg.trust_microsoft365,
                                   org_cfg.trust_google, bool(org_cfg.trusted_authserv_ids))
    if count and count < len(hops_top):
        zone_end = hops_top[count].index
    elif count:
        zone_end = len(fields)
    else:
        zone_end = hops_top[0].index if hops_top else 0
    report.hops = order_and_delays(hops_top)
    if not hops_top:
        report.findings.append(Finding("origin.no_received",
                                       "no Received fields: the message never crossed a mail server", {}))
    else:
        edge = hops_top[count - 1] if count else None
        if edge is not None and edge.from_ip:
            report.findings.append(Finding(
                "origin.first_external",
                f"first external hop: {edge.from_host or '?'} [{edge.from_ip}] received by {edge.by_host}",
                {"ip": edge.from_ip, "host": edge.from_host, "by": edge.by_host,
                 "ip_class": edge.ip_class, "receiver": receiver}))
            report.headers["originating_ip"] = edge.from_ip
        backwards = [h for h in report.hops if h.delay is not None and h.delay < -300]
        if backwards:
            report.findings.append(Finding(
                "origin.time_travel",
                f"{len(backwards)} hop(s) dated before the hop that sent them the message "
                "(clock skew or forged Received fields)",
                {"hops": [{"by": h.by_host, "time": h.time, "delay": h.delay} for h in backwards[:5]]}))
        private = [h for h in hops_top[count:] if h.ip_class in ("private", "loopback", "cgnat")
                   and h.by_host and not h.trusted]
        if private:
            report.findings.append(Finding(
                "origin.private_relay", f"{len(private)} untrusted hop(s) relayed from private addresses",
                {"hops": [{"from_ip": h.from_ip, "by": h.by_host} for h in private[:5]]}))
    # -- authentication -------------------------------------------------------------------
    auth, auth_findings = auth_mod.select(fields, org_cfg.trusted_authserv_ids, receiver,
                                          zone_end)
    identity_findings, from_domain = identity_mod.check(
        from_list, addresses(msg, "reply-to"), header(msg, "return-path"),
        addresses(msg, "sender"), policy)
    auth_mod.align(auth, identity_mod.to_ascii(from_domain))
    auth_findings += auth_mod.judge(auth, from_domain, org_cfg.own_domains)
    signatures = header_values(msg, "dkim-signature")
    if signatures:
        start = body_offset(data)
        if len(data) - start > limits.max_attachment_scan_bytes:
            auth.body_hashes = [{"domain": "", "result": "not checked (body larger than the scan cap)"}]
        else:
            auth.body_hashes = auth_mod.dkim_body_hashes(signatures, data[start:],
                                                         limits.max_attachment_scan_bytes)
        auth_findings += auth_mod.body_hash_findings(auth.body_hashes)
    report.auth = auth
    report.findings += auth_findings + identity_findings
    from_addr = from_list[0][1].lower() if from_list else ""
    allowed = set(org_cfg.allowlist.senders)
    if from_addr and (from_addr in allowed or from_domain in allowed) and auth.aligned:
        report.findings.append(Finding(
            "identity.allowlisted_sender", f"{from_addr} is on the sender allowlist and authenticates",
            {"from": from_addr}))
    # -- parts: bodies and attachments ----------------------------------------------------
    parts, skipped = walk(msg, limits.max_parts, limits.max_depth)
    if skipped:
        report.findings.append(Finding(
            "message.truncated", f"{skipped} MIME parts beyond the caps ({limits.max_parts} parts, "
            f"depth {limits.max_depth}) were not read", {"skipped": skipped}))
    texts: list[str] = []
    html_texts: list[str] = []
    hrefs: list[str] = []
    docs = []
    pending_attachments = []
    for part, _depth in parts:
        if part.is_multipart():
            continue
        ctype = content_type(part)
        for d in getattr(part, "defects", [])[:5]:
            report.defects.append(type(d).__name__)
        if is_attachment(part) and not (ctype.startswith("text/") and not filename(part)):
            pending_attachments.append(part)
            continue
        if ctype == "text/html":
            html = text_of(part, limits.max_html_chars, blobs)
            doc = content_mod.parse_html(html, limits.max_links)
            docs.append(doc)
            html_texts.append(" ".join(doc.text))
            hrefs.extend(a[0] for a in doc.anchors if a[0])
            hrefs.extend(f["action"] for f in doc.forms if f["action"])
        elif ctype.startswith("text/"):
            texts.append(text_of(part, limits.max_html_chars, blobs))
    body_text = "\n".join(texts + html_texts)
    links = []
    for doc in docs:
        links += content_mod.links_from_html(doc, "text/html")
        report.findings += content_mod.check_html(doc, "the HTML body")
    # -- indicators through the core extractor -------------------------------------------
    sources = {
        "header": "\n".join(v for _, n, v in fields if n in (
            "from", "reply-to", "return-path", "sender", "subject")),
        "body:text/plain": "\n".join(texts),
        "body:text/html": "\n".join(html_texts),
        "link": "\n".join(h for h in hrefs if "://" in h),
        # the edge's sender and the hops below it; not the receiver's own internal relays
        "received": "\n".join(h.from_ip for h in (hops_top[count - 1:] if count else hops_top)
                              if h.from_ip),
    }
    plain_urls = _extract(sources, policy, report)
    known = {link.url for link in links}
    links += content_mod.links_from_text(
        [u for u in plain_urls if u not in known][: limits.max_links], "text")
    report.links = links[: limits.max_links]
    report.findings += content_mod.check_links(report.links, identity_mod.to_ascii(from_domain), policy)
    report.findings += content_mod.check_lures(report.headers["subject"], body_text, policy)
    # -- attachments -------------------------------------------------------------------
    hashes = []
    for part in pending_attachments[:100]:
        scanned = att_mod.Scanned(payload_chunks(part, blobs), limits.max_attachment_scan_bytes)
        att, att_findings = att_mod.examine(filename(part), content_type(part), scanned,
                                            policy, body_text)
        report.attachments.append(att)
        report.findings += att_findings
        hashes.append(att.sha256)
        qr_urls = [u for m in att.members if "qr" in m for u in [content_mod._first_url(m["qr"])] if u]
        if qr_urls:
            qr_links = content_mod.links_from_text(qr_urls, f"QR code in {att.filename or 'an image'}")
            report.links.extend(qr_links)
            report.findings += content_mod.check_links(
                qr_links, identity_mod.to_ascii(from_domain), policy)
    if hashes or any("link" in m for a in report.attachments for m in a.members):
        _extract({"attachment": "\n".join(hashes + [m["link"] for a in report.attachments
                                                      for m in a.members if "link" in m])},
                 policy, report)
    if len(report.defects) >= 5:
        report.findings.append(Finding("message.defects",
                                       f"{len(report.defects)} MIME/header defects", {"defects": report.defects[:20]}))
    report.findings = _dedupe(report.findings)


def _extract_config(policy: MailPolicy) -> Any:
    key = tuple(policy.organisation.allowlist.domains)
    config = _EXTRACT_CONFIGS.get(key)
    if config is None:
        from ..extract import ExtractConfig

        types = frozenset(t for t in IocType if t is not IocType.USERNAME)
        config = ExtractConfig(format="plain", types=types, allowlist=key, max_samples=0)
        _EXTRACT_CONFIGS[key] = config
    return config


def _extract(sources: dict[str, str], policy: MailPolicy, report: MailReport) -> list[str]:
    """Indicators of each source through ``socflow.pipeline.extract_text`` (the same refang,
    validation and allowlist as logs); merged into ``report.indicators``. Returns the URLs."""
    from ..pipeline import extract_text

    config = _extract_config(policy)
    index = {(i["type"], i["value"]): i for i in report.indicators}
    urls: list[str] = []
    for where, text in sources.items():
        if not text.strip():
            continue
        for ioc in extract_text(text, config).iocs:
            key = (ioc.type.value, ioc.value)
            entry = index.get(key)
            if entry is None:
                entry = {"type": ioc.type.value, "value": ioc.value, "where": [], "count": 0}
                if ioc.ip_class:
                    entry["ip_class"] = ioc.ip_class.value
                index[key] = entry
                report.indicators.append(entry)
            if where not in entry["where"]:
                entry["where"].append(where)
            entry["count"] += ioc.count
            if ioc.type is IocType.URL and where.startswith("body:text/plain"):
                urls.append(ioc.value)
    return urls


def _dedupe(findings: list[Finding]) -> list[Finding]:
    """Same code and summary once."""
    seen = set()
    out = []
    for f in findings:
        key = (f.code, f.summary)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def public_ip(value: str) -> bool:
    return classify_ip(value) is IpClass.PUBLIC

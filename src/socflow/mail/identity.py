"""Who the message claims to be from: From vs Reply-To vs Return-Path vs Sender (organisational
domains), display-name tricks, and lookalikes of protected domains (Unicode confusables, punycode,
small edit distance, brand names inside other domains)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from ..extract import find_iocs
from ..models import IocType
from .auth import org
from .model import Finding
from .policy import MailPolicy


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().strip(">").rstrip(".").lower() if "@" in address else ""


def to_ascii(domain: str) -> str:
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def to_unicode(domain: str) -> str:
    if "xn--" not in domain:
        return domain
    try:
        return domain.encode("ascii").decode("idna")
    except UnicodeError:
        return domain


@lru_cache(maxsize=4096)
def skeleton(text: str) -> str:
    """A Latin skeleton of ``text``: NFKC, then each confusable character replaced by its
    Latin look-alike (Unicode confusables data of ``confusable_homoglyphs``)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if text.isascii():
        return text
    from confusable_homoglyphs import confusables

    found = confusables.is_confusable(text, preferred_aliases=["latin"], greedy=True) or []
    table = {}
    for item in found:
        for glyph in item.get("homoglyphs", []):
            if glyph["c"].isascii():
                table[item["character"]] = glyph["c"].lower()
                break
    return "".join(table.get(ch, ch) for ch in text)


def mixed_script(text: str) -> bool:
    from confusable_homoglyphs import categories

    letters = [c for c in text if c.isalpha()]
    if not letters or all(c.isascii() for c in letters):
        return False
    aliases = {categories.alias(c) for c in letters}
    aliases.discard("COMMON")
    return len(aliases) > 1


def _distance_le1(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance of ``a`` and ``b`` is exactly 1 (edit, insert, delete,
    adjacent swap)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1:]


_ASCII_PAIRS = (("rn", "m"), ("vv", "w"), ("cl", "d"))


def _unpair(text: str) -> str:
    for pair, letter in _ASCII_PAIRS:
        text = text.replace(pair, letter)
    return text


_DIGIT_FOR_LETTER = str.maketrans({"0": "o", "1": "l", "3": "e", "5": "s", "4": "a", "7": "t",
                                   "8": "b", "$": "s", "@": "a"})


def _label(domain: str) -> str:
    reg = org(domain)
    return reg.split(".", 1)[0] if reg else domain.split(".", 1)[0]


@lru_cache(maxsize=8192)
def lookalike_of(domain: str, protected: frozenset[str]) -> tuple[str, str] | None:
    """(protected domain, how) when ``domain`` imitates one of ``protected``; None otherwise."""
    if not domain or not protected:
        return None
    domain = to_unicode(domain.lower())
    reg = org(to_ascii(domain))
    protected_orgs = {org(p): p for p in protected}
    if reg in protected_orgs:
        return None
    uni_reg = to_unicode(reg)
    skel = skeleton(uni_reg).translate(_DIGIT_FOR_LETTER)
    for p_org, p in protected_orgs.items():
        if (skel == p_org or (_unpair(skel) == p_org and "rn" not in p_org and "vv" not in p_org
                              and "cl" not in p_org)) and uni_reg != p_org:
            return p, "confusable characters" if not uni_reg.isascii() else "digits for letters"
    label = _label(to_ascii(domain))
    skel_label = skeleton(to_unicode(label)).translate(_DIGIT_FOR_LETTER)
    host_labels = domain.split(".")
    for p_org, p in protected_orgs.items():
        p_label = p_org.split(".", 1)[0]
        if len(p_label) >= 5 and (_distance_le1(skel_label, p_label)
                                  or _distance_le1(label, p_label)):
            return p, "one character away"
        if len(p_label) >= 4 and p_label != label and re.search(
                rf"(?:^|[-.]){re.escape(p_label)}(?:[-.]|$)", label):
            return p, "brand name inside another domain"
        # "paypal.com.account-verify.net": the protected name as the leading labels
        if len(host_labels) > 2 and ".".join(host_labels[: len(p_org.split("."))]) == p_org:
            return p, "protected domain used as a sub-domain"
    return None


def check(msg_from: list[tuple[str, str]], reply_to: list[tuple[str, str]],
          return_path: str, sender: list[tuple[str, str]], policy: MailPolicy,
          ) -> tuple[list[Finding], str]:
    """Identity findings and the From domain."""
    findings: list[Finding] = []
    if not msg_from:
        findings.append(Finding("identity.no_from", "the message has no usable From address", {}))
        return findings, ""
    name, address = msg_from[0]
    from_domain = domain_of(address)
    from_org = org(to_ascii(from_domain)) if from_domain else ""
    lists = policy.lists
    own = {org(d) for d in policy.organisation.own_domains}

    rt = [(n, a) for n, a in reply_to if domain_of(a)]
    rt_other = [a for _, a in rt if org(to_ascii(domain_of(a))) != from_org]
    if rt_other:
        free = [a for a in rt_other if org(domain_of(a)) in set(lists.freemail)]
        if free and from_org not in set(lists.freemail):
            findings.append(Finding(
                "identity.reply_to_freemail",
                f"replies go to a free-mail address ({free[0]}) while From is {from_domain}",
                {"from": address, "reply_to": rt_other[:5]}))
        else:
            findings.append(Finding(
                "identity.reply_to_mismatch",
                f"Reply-To domain {domain_of(rt_other[0])} differs from From domain {from_domain}",
                {"from": address, "reply_to": rt_other[:5]}))
    rp_domain = domain_of(return_path)
    if rp_domain and from_org and org(to_ascii(rp_domain)) != from_org:
        findings.append(Finding(
            "identity.return_path_mismatch",
            f"envelope sender (Return-Path) domain {rp_domain} differs from From domain {from_domain}",
            {"from": address, "return_path": return_path}))
    sd = [a for _, a in sender if domain_of(a) and org(to_ascii(domain_of(a))) != from_org]
    if sd:
        findings.append(Finding(
            "identity.sender_mismatch",
            f"Sender domain {domain_of(sd[0])} differs from From domain {from_domain}",
            {"from": address, "sender": sd[:3]}))
    if len(msg_from) > 1:
        others = [a for _, a in msg_from[1:] if org(domain_of(a)) != from_org]
        if others:
            findings.append(Finding(
                "identity.display_name_address",
                f"the From header holds more than one address ({', '.join(others[:2])})",
                {"from": [a for _, a in msg_from]}))
    if name:
        shown = [v for kind, v in find_iocs(name) if kind in (IocType.MAIL, IocType.DOMAIN)]
        shown_other = [v for v in shown if org(to_ascii(domain_of(v) or v)) != from_org]
        if shown_other:
            findings.append(Finding(
                "identity.display_name_address",
                f"the display name shows {shown_other[0]} but the address is {address}",
                {"display_name": name, "address": address, "shown": shown_other[:3]}))
        brand = _brand_in(name, from_org, policy, own)
        if brand:
            findings.append(Finding(
                "identity.display_name_brand",
                f"the display name uses the protected name {brand!r} but the mail comes from {from_domain}",
                {"display_name": name, "address": address, "name": brand}))
    for label, domain in (("From", from_domain), *(("Reply-To", domain_of(a)) for _, a in rt)):
        if not domain:
            continue
        uni = to_unicode(domain)
        hit = lookalike_of(domain, policy.protected)
        if hit:
            findings.append(Finding(
                "identity.lookalike_domain",
                f"{label} domain {uni} imitates {hit[0]} ({hit[1]})",
                {"header": label, "domain": domain, "unicode": uni, "imitates": hit[0],
                 "how": hit[1]}))
        if "xn--" in domain and label == "From":
            findings.append(Finding(
                "identity.punycode_domain", f"From domain is an internationalised name ({uni})",
                {"domain": domain, "unicode": uni}))
        if mixed_script(uni) and label == "From":
            findings.append(Finding(
                "identity.mixed_script_domain",
                f"From domain {uni} mixes scripts (e.g. Latin and Cyrillic)",
                {"domain": domain, "unicode": uni}))
    return _one_per_code(findings), from_domain


def _brand_in(name: str, from_org: str, policy: MailPolicy, own: set[str]) -> str:
    text = skeleton(name)
    for brand, domains in policy.organisation.protected_names.items():
        if re.search(rf"(?<![a-z0-9]){re.escape(skeleton(brand))}(?![a-z0-9])", text):
            allowed = {org(d) for d in domains} | own
            if from_org not in allowed:
                return brand
    return ""


def _one_per_code(findings: list[Finding]) -> list[Finding]:
    seen: dict[str, Finding] = {}
    for f in findings:
        seen.setdefault(f.code, f)
    return list(seen.values())

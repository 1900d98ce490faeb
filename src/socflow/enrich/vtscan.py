"""VirusTotal submissions (Socflow_VirusTotal_Scan): upload or submit, then poll with a bound.

Files up to 32 MB go to ``POST /files``; larger ones (up to 650 MB) through a one-shot
``/files/upload_url`` (which costs no quota). Polling ``/analyses/{id}`` stops at the earlier of
``scan_max_wait`` and the lookup's deadline: a stuck analysis ends as a clear failure.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from ..errors import InputError, ProviderError, UnavailableError
from ..models import IocType, Verdict
from .base import Deadline, envelope
from .virustotal import TITLE, VirusTotal

DIRECT_UPLOAD_MAX = 32 * 1024 * 1024
UPLOAD_MAX = 650 * 1024 * 1024


def scan_url(vt: VirusTotal, url: str, deadline: Deadline) -> Verdict:
    if not isinstance(url, str) or "://" not in url:
        raise InputError(f"{url!r} is not a URL")
    answer = vt.client.request("POST", "/urls", deadline, data={"url": url})
    return _wait(vt, _analysis_id(answer.body), IocType.URL, url, deadline)


def scan_file(vt: VirusTotal, path: str | None, deadline: Deadline) -> Verdict:
    if not path or not Path(path).is_file():
        raise InputError("the file observable is missing from the job folder")
    size = os.path.getsize(path)
    if size > UPLOAD_MAX:
        raise InputError(f"the file is {size >> 20} MB; VirusTotal accepts at most 650 MB")
    target: dict[str, Any] = {}
    if size > DIRECT_UPLOAD_MAX:
        upload = vt.client.request("GET", "/files/upload_url", deadline, bucket="upload_url").body
        if not isinstance(upload, dict) or not isinstance(upload.get("data"), str):
            raise ProviderError(f"{TITLE}: no upload URL in the answer", service=TITLE)
        target["absolute_url"] = upload["data"]
    with open(path, "rb") as fh:
        answer = vt.client.request(
            "POST", "/files", deadline, files={"file": (Path(path).name, fh)}, **target
        )
    return _wait(vt, _analysis_id(answer.body), IocType.SHA256, "", deadline)


def _analysis_id(body: Any) -> str:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise ProviderError(f"{TITLE}: the submission answer has no analysis id", service=TITLE)
    return data["id"]


def _wait(vt: VirusTotal, analysis_id: str, ioc_type: IocType, indicator: str,
          deadline: Deadline) -> Verdict:
    settings = vt.settings
    started = time.monotonic()
    give_up = started + min(settings.scan_max_wait, max(0.0, deadline.remaining() - 1))
    while True:
        body = vt.client.request("GET", f"/analyses/{analysis_id}", deadline).body
        attrs = ((body or {}).get("data") or {}).get("attributes") or {}
        status = attrs.get("status", "unknown")
        if status == "completed":
            meta = (body or {}).get("meta") or {}
            indicator = indicator or (meta.get("file_info") or {}).get("sha256", analysis_id)
            raw = envelope(TITLE, ioc_type, indicator, body, analysis_id=analysis_id)
            return vt.normalise(raw)
        if time.monotonic() + settings.poll_interval > give_up:
            raise UnavailableError(
                f"{TITLE}: analysis {analysis_id} still {status} after "
                f"{time.monotonic() - started:.0f} s; run GetReport later",
                service=TITLE,
            )
        time.sleep(settings.poll_interval)

"""What an administrator may register as a webhook: its document and its URL.

A receiver is an ``http`` or ``https`` URL without credentials in it. It may not be this
server itself (a webhook posting to the API that emits its events would feed itself):
"itself" is the host and port the registering request reached (its ``Host``, after the
proxy headers the app trusts), any loopback address with that port when that host is a
loopback one, and the hosts an operator lists in ``CRMFORGE_WEBHOOK_DENY_HOSTS``
(``host`` or ``host:port``, comma separated: the public names of the instance).
Link-local, multicast and unspecified addresses (cloud metadata services live there) are
always refused. Private and loopback receivers are allowed unless
``CRMFORGE_WEBHOOK_ALLOW_PRIVATE=false``: on-premise systems and tests live there; with
the setting off they are refused here and again when sending, after name resolution
(decision 0024).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from ...core.errors import ValidationFailed
from ...runtime.events import EVENT_NAMES

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
ALL = "*"
MAX_URL = 2000
MIN_SECRET, MAX_SECRET = 16, 200
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def allow_private() -> bool:
    """``CRMFORGE_WEBHOOK_ALLOW_PRIVATE`` (default true)."""
    raw = os.environ.get("CRMFORGE_WEBHOOK_ALLOW_PRIVATE", "").strip().lower()
    return raw not in ("0", "false", "no", "off")


def _denied_hosts() -> list[str]:
    raw = os.environ.get("CRMFORGE_WEBHOOK_DENY_HOSTS", "")
    return [h.strip().lower() for h in raw.split(",") if h.strip()]


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _loopback(host: str) -> bool:
    ip = _ip(host)
    return host in _LOOPBACK_NAMES or host.endswith(".localhost") or (
        ip is not None and ip.is_loopback)


def address_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why a receiver at ``ip`` is refused, or None (also asked after resolving a name)."""
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        return "points at a link-local, multicast or unspecified address"
    if not allow_private() and (ip.is_private or ip.is_loopback or ip.is_reserved):
        return "points at a private address (CRMFORGE_WEBHOOK_ALLOW_PRIVATE is off)"
    return None


def _split_host(value: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit("//" + value)
    try:
        port = parts.port or default_port
    except ValueError:
        port = default_port
    return (parts.hostname or "").lower(), port


def url_problem(url: Any, self_hosts: Iterable[tuple[str, int]] = ()) -> str | None:
    """Why ``url`` cannot receive deliveries, or None. ``self_hosts``: (host, port) pairs
    this server answers at (the registering request's)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        return f"an http(s) URL of at most {MAX_URL} characters"
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "a URL has no spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        return "only http and https URLs receive webhooks"
    host = (parts.hostname or "").lower()
    if not host:
        return "the URL has no host"
    if parts.username is not None or parts.password is not None:
        return "no user or password in the URL: receivers check the signature instead"
    port = port or (443 if parts.scheme.lower() == "https" else 80)
    for own_host, own_port in self_hosts:
        if port == own_port and (host == own_host or (_loopback(host) and _loopback(own_host))):
            return "the URL points at this server itself"
    for denied in _denied_hosts():
        d_host, d_port = _split_host(denied, port)
        if host == d_host and port == d_port:
            return "the URL points at this server itself (CRMFORGE_WEBHOOK_DENY_HOSTS)"
    ip = _ip(host)
    if ip is not None:
        return address_problem(ip)
    if not allow_private() and _loopback(host):
        return "points at a private address (CRMFORGE_WEBHOOK_ALLOW_PRIVATE is off)"
    return None


def request_hosts(host_header: str, scheme: str) -> list[tuple[str, int]]:
    """The (host, port) a request reached, from its Host header and scheme."""
    if not host_header:
        return []
    return [_split_host(host_header, 443 if scheme == "https" else 80)]


def _name_list(value: Any, key: str, known: Iterable[str], what: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValidationFailed(f"{key} is a non-empty list of {what} names (or [\"*\"])",
                               {key: ["a non-empty list of names"]})
    allowed = set(known)
    unknown = sorted({v for v in value if v != ALL and v not in allowed})
    if unknown:
        shown = ", ".join(u[:40] for u in unknown[:10])
        raise ValidationFailed(f"no {what} named {shown}", {key: [f"unknown: {shown}"]})
    return [ALL] if ALL in value else sorted(set(value))


def checked(body: Mapping[str, Any], *, objects: Iterable[str], creating: bool,
            self_hosts: Iterable[tuple[str, int]]) -> dict[str, Any]:
    """The checked members of a webhook document (all of them when ``creating``; those
    sent otherwise). All problems are reported at once, keyed by member."""
    allowed = {"url", "events", "objects", "secret", "owner", "active"} | (
        {"name"} if creating else set())
    errors: dict[str, list[str]] = {}
    extra = sorted(str(k)[:40] for k in body if k not in allowed)
    for k in extra:
        errors[k] = ["unknown member" + ("" if creating or k != "name"
                                         else ": a webhook is not renamed")]
    out: dict[str, Any] = {}
    if creating or "name" in body:
        name = body.get("name")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            errors["name"] = ["1-40 lowercase letters, digits, '_' or '-'"]
        else:
            out["name"] = name
    if creating or "url" in body:
        problem = url_problem(body.get("url"), self_hosts)
        if problem:
            errors["url"] = [problem]
        else:
            out["url"] = body["url"]
    for key, known, what in (("events", EVENT_NAMES, "event"), ("objects", objects, "object")):
        if creating or key in body:
            try:
                out[key] = _name_list(body.get(key), key, known, what)
            except ValidationFailed as exc:
                errors.update(exc.fields)
    if creating or "secret" in body:
        secret = body.get("secret")
        if not isinstance(secret, str) or not MIN_SECRET <= len(secret) <= MAX_SECRET:
            errors["secret"] = [f"{MIN_SECRET}-{MAX_SECRET} characters"]
        else:
            out["secret"] = secret
    if body.get("owner") is not None:
        if not isinstance(body["owner"], str):
            errors["owner"] = ["a username"]
        else:
            out["owner"] = body["owner"]
    if "active" in body:
        if not isinstance(body["active"], bool):
            errors["active"] = ["true or false"]
        else:
            out["active"] = body["active"]
    if errors:
        first = next(iter(errors))
        raise ValidationFailed(f"{first}: {errors[first][0]}", errors)
    return out


__all__ = ["ALL", "address_problem", "allow_private", "checked", "request_hosts",
           "url_problem"]

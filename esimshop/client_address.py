"""The one client-address rule of the whole site (rate limits, django-axes, logs of refusals).

TRUSTED_PROXY_COUNT (integer, default 0) says how many proxies in front of the shop append the
address they received from to X-Forwarded-For:
- 0: no proxy; X-Forwarded-For is whatever the client wrote, so it is ignored: REMOTE_ADDR.
- N: the Nth entry from the right is the address the outermost trusted proxy saw (entries to its
  left were written by the client and are ignored). A header with fewer than N entries means a
  request that did not come through all the proxies: REMOTE_ADDR.
"""

import ipaddress

from django.conf import settings

UNKNOWN = "unknown"


def client_address(request) -> str:
    """The client's address as a string ("unknown" if there is none)."""
    meta = getattr(request, "META", None) or {}
    remote = meta.get("REMOTE_ADDR", "") or UNKNOWN
    count = int(settings.TRUSTED_PROXY_COUNT or 0)
    if count <= 0:
        return remote
    entries = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    entries = [entry for entry in entries if entry]
    if len(entries) < count:
        return remote
    return entries[-count] or remote


def client_ip_or_none(request) -> str | None:
    """client_address() as a valid IP address, or None (for GenericIPAddressField columns)."""
    if request is None or not hasattr(request, "META"):
        return None
    try:
        return str(ipaddress.ip_address(client_address(request)))
    except ValueError:
        return None

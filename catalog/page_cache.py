"""Rendered storefront responses in the Django cache, invalidated by a catalogue version.

The catalogue changes only when the sync writes or staff override a price; both call
`bump_catalogue_version()` after their transaction commits. Keys carry the version, so every
page built from an older catalogue stops being found at once (and ages out of the cache).

A key is: catalogue version + active language + path + the view's own query parameters
(sorted, last value of each like `QueryDict.get`, empty ones dropped). Unknown parameters
(utm_source, fbclid, junk) are ignored: the views bind only these same parameters, so the page
cannot depend on anything else. Over-long values or paths are served but never stored.

Only what is the same for every visitor is stored: an anonymous GET answered 200 or 404 that
set no cookie and touched no session, CSRF token or message. A page that starts using one of
those (say a POST form with {% csrf_token %} in base.html) is then simply not cached, rather
than handing one visitor's token to the next.

The version is read before the view runs: a request that raced a sync's commit stores its page
under the old version, which nobody reads any more, never under the new one.
"""

import hashlib
import time
from contextvars import ContextVar
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from django.utils.translation import get_language

from esimshop.infrastructure import CACHE_ERRORS

VERSION_KEY = "catalog:version"
PAGE_KEY_PREFIX = "storefront"
CACHEABLE_STATUSES = {200, 404}
NOT_FOUND_SECONDS = 60  # junk URLs (unknown bundles, countries) must not occupy the cache for long
MAX_PATH_LENGTH = 300
MAX_PARAM_LENGTH = 64
CACHE_STATUS_HEADER = "X-Storefront-Cache"  # hit / miss / bypass: for benchmarks and debugging


# Set while catalog.page_warming renders the next version's pages: they are stored under that
# version, which visitors do not read until the warming switches VERSION_KEY over to it.
rendering_version: ContextVar[int | None] = ContextVar("storefront_rendering_version", default=None)


def catalogue_version() -> int:
    override = rendering_version.get()
    if override is not None:
        return override
    version = cache.get(VERSION_KEY)
    if version is None:
        # First use, or the key was evicted: start a new epoch that can't equal an old version.
        cache.add(VERSION_KEY, new_epoch(), timeout=None)
        version = cache.get(VERSION_KEY)
    return version


def bump_catalogue_version() -> int:
    """Call after a catalogue write has committed (transaction.on_commit)."""
    try:
        return cache.incr(VERSION_KEY)
    except ValueError:  # no version stored yet
        cache.add(VERSION_KEY, new_epoch(), timeout=None)
        return cache.incr(VERSION_KEY)


def new_epoch() -> int:
    return time.time_ns() // 1000  # microseconds: far above any count of bumps in an earlier epoch


def query_params(query, names) -> dict[str, str]:
    """The view's own parameters from a QueryDict: last value of each, empty ones dropped, sorted.

    Views bind their forms to exactly this, so a page depends on nothing the cache key leaves out.
    """
    return {name: query[name] for name in sorted(names) if query.get(name)}


def canonical_path(path: str, params: dict[str, str]) -> str:
    return f"{path}?{urlencode(params)}" if params else path


def do_not_store(response):
    """Let a view veto storing a response (it still gets served)."""
    response.storefront_do_not_store = True
    return response


def storefront_page(params=()):
    """Decorator: serve the view's response from the cache, keyed as the module docstring says.

    `params`: names of the query parameters the view reads; every other one is ignored.
    Sets request.storefront_path (path + its normalised query) for links that point back at the
    page, such as the language switcher, so a cached page never echoes one visitor's query string.
    """

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            own = query_params(request.GET, params)
            request.storefront_path = canonical_path(request.path, own)
            # With the cache (Redis) down the page is rendered from the database, uncached:
            # a storefront that is slower for a minute beats a 503.
            try:
                key = _key(request, own) if _cacheable_request(request, own) else None
                stored = cache.get(key) if key is not None else None
            except CACHE_ERRORS:
                key = stored = None
            if stored is not None:
                return _response(stored, "hit")
            response = view(request, *args, **kwargs)
            if key is not None and _storable(request, response):
                status, headers, content = _snapshot(response)
                timeout = (
                    settings.STOREFRONT_CACHE_SECONDS
                    if status == 200
                    else min(NOT_FOUND_SECONDS, settings.STOREFRONT_CACHE_SECONDS)
                )
                try:
                    cache.set(key, (status, headers, content), timeout)
                except CACHE_ERRORS:
                    pass
                response.headers[CACHE_STATUS_HEADER] = "miss"
            else:
                response.headers[CACHE_STATUS_HEADER] = "bypass"
            return response

        return wrapped

    return decorator


def _cacheable_request(request, own: dict) -> bool:
    return (
        request.method == "GET"
        and len(request.path) <= MAX_PATH_LENGTH
        and all(len(value) <= MAX_PARAM_LENGTH for value in own.values())
        and _is_anonymous(request)
    )


def _is_anonymous(request) -> bool:
    # No session cookie: nobody can be signed in, and no query is needed to know it.
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return True
    user = getattr(request, "user", None)
    return user is None or not user.is_authenticated


def _key(request, own: dict) -> str:
    return _key_for(catalogue_version(), get_language() or settings.LANGUAGE_CODE, request.path, own)


def _key_for(version: int, language: str, path: str, own: dict) -> str:
    identity = "\n".join((path, urlencode(own)))
    digest = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"{PAGE_KEY_PREFIX}:{version}:{language}:{digest}"


def forget_page(path: str) -> None:
    """Drop one page's stored copies (every language, no query parameters) of the current version:
    for a change that concerns that page alone, instead of a new version for the whole storefront."""
    try:
        version = cache.get(VERSION_KEY)
        if version is not None:
            cache.delete_many([_key_for(version, code, path, {}) for code, _name in settings.LANGUAGES])
    except CACHE_ERRORS:
        pass  # the page then shows the change when it expires (STOREFRONT_CACHE_SECONDS)


def _storable(request, response) -> bool:
    session = getattr(request, "session", None)
    messages = getattr(request, "_messages", None)
    return (
        response.status_code in CACHEABLE_STATUSES
        and not response.streaming
        and not response.cookies
        and not getattr(response, "storefront_do_not_store", False)
        and not request.META.get("CSRF_COOKIE_NEEDS_UPDATE")  # the page used a CSRF token
        and not (session is not None and session.accessed)
        and not (messages is not None and messages.used)
    )


def _snapshot(response) -> tuple[int, list[tuple[str, str]], bytes]:
    if hasattr(response, "render") and not response.is_rendered:
        response.render()  # DRF / TemplateResponse: render now to store the bytes
    return response.status_code, list(response.headers.items()), response.content


def _response(stored, state: str) -> HttpResponse:
    status, headers, content = stored
    response = HttpResponse(content, status=status)
    for name, value in headers:
        response.headers[name] = value
    response.headers[CACHE_STATUS_HEADER] = state
    return response

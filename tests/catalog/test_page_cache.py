"""Storefront page cache: hits without queries, invalidation by the catalogue version (sync and
admin override), languages kept apart, junk query strings folded into one entry, nothing per
visitor in a cached page, and the language links that replaced the CSRF-protected switcher."""

from decimal import Decimal

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.test import Client
from django.urls import reverse

from catalog import page_cache, selectors
from catalog.page_cache import CACHE_STATUS_HEADER as CACHE
from catalog.pricing import retail_price_mnt
from catalog.services import sync_catalog
from integrations.esimgo.client import ESIMGoClient

from .catalogue_payloads import mock_catalogue, raw_bundle
from .factories import BundleFactory, CountryFactory, RegionFactory, refresh_country_stats

pytestmark = pytest.mark.django_db

BUNDLE = "esim_1GB_7D_MN_V2"
STOREFRONT_URLS = [
    "/",
    "/countries/",
    "/countries/MN/",
    "/countries/MN/?unlimited=no&sort=per_gb",
    "/regions/asia/",
    f"/bundles/{BUNDLE}/",
    "/api/packages/?country=MN",
]


@pytest.fixture
def catalogue():
    asia = RegionFactory(name="Asia", slug="asia")
    for iso in ("MN", "JP", "KR"):
        CountryFactory(iso=iso, region=asia)
    BundleFactory(name=BUNDLE, countries=["MN"], computed_price_mnt=4500)
    BundleFactory(
        name="esim_5GB_15D_RAS_V2",
        countries=["JP", "KR"],
        roaming=["MN"],
        data_amount_mb=5000,
        computed_price_mnt=20000,
    )
    refresh_country_stats()


def mnt(amount):
    return f"{amount:,}₮"


def shows_price(response, amount) -> bool:
    """Pages print 12,500₮; the API sends "amount": 12500."""
    if response["Content-Type"].startswith("application/json"):
        return any(item["amount"] == amount for item in response.json())
    return mnt(amount) in response.content.decode()


# --- Hits --------------------------------------------------------------------------------


@pytest.mark.parametrize("url", STOREFRONT_URLS)
def test_second_request_is_served_from_the_cache_without_queries(client, catalogue, django_assert_num_queries, url):
    first = client.get(url)
    assert first.status_code == 200 and first[CACHE] == "miss"
    with django_assert_num_queries(0):
        second = client.get(url)
    assert second.status_code == 200 and second[CACHE] == "hit"
    assert second.content == first.content
    assert second["Content-Type"] == first["Content-Type"]
    assert second["Content-Language"] == "mn"


def test_not_found_pages_are_cached_briefly_too(client, catalogue, django_assert_num_queries):
    assert client.get("/bundles/esim_nope/")[CACHE] == "miss"
    with django_assert_num_queries(0):
        response = client.get("/bundles/esim_nope/")
    assert response.status_code == 404 and response[CACHE] == "hit"
    assert page_cache.NOT_FOUND_SECONDS <= 60


def test_the_search_page_and_redirects_are_not_cached(client, catalogue):
    assert client.get("/search/", {"q": "zzz"}).has_header(CACHE) is False  # arbitrary text: never stored
    assert client.get("/countries/MN/?sort=bogus")[CACHE] == "bypass"


# --- Invalidation ------------------------------------------------------------------------


@pytest.fixture
def sync_settings(settings, monkeypatch):
    settings.ESIMGO_RATE_LIMIT_PER_SECOND = 0
    settings.ESIMGO_CATALOGUE_PAGE_SIZE = 100
    settings.QPAY_USD_TO_MNT_RATE = Decimal("3450")
    settings.PRICE_MARKUP_PERCENT = Decimal("25")
    settings.PRICE_ROUNDING_STEP_MNT = 100
    monkeypatch.setattr(ESIMGoClient, "backoff_base", 0)


def _sync(mocked_responses, capture, bundles):
    mock_catalogue(mocked_responses, bundles, 100)
    with capture(execute=True):
        return sync_catalog()


def _upstream(price):
    return [
        raw_bundle(BUNDLE, countries=["MN"], price=price),
        raw_bundle("esim_5GB_15D_RAS_V2", countries=["JP", "KR"], roaming=["MN"], data_mb=5000, price=12),
    ]


@pytest.mark.parametrize("url", ["/", "/countries/MN/", f"/bundles/{BUNDLE}/", "/api/packages/?country=MN"])
def test_a_sync_that_changes_a_price_invalidates_cached_pages(
    client, sync_settings, mocked_responses, django_capture_on_commit_callbacks, url
):
    _sync(mocked_responses, django_capture_on_commit_callbacks, _upstream(4.35))
    old, new = retail_price_mnt(Decimal("4.35")), retail_price_mnt(Decimal("5.90"))
    assert shows_price(client.get(url), old)
    assert client.get(url)[CACHE] == "hit"

    result = _sync(mocked_responses, django_capture_on_commit_callbacks, _upstream(5.90))
    assert result.updated == 1
    response = client.get(url)
    assert response[CACHE] == "miss"
    assert shows_price(response, new) and not shows_price(response, old)


def test_a_sync_that_retires_a_bundle_removes_it_from_cached_lists(
    client, sync_settings, mocked_responses, django_capture_on_commit_callbacks
):
    _sync(mocked_responses, django_capture_on_commit_callbacks, _upstream(4.35))
    assert BUNDLE in client.get("/countries/MN/").content.decode()
    _sync(mocked_responses, django_capture_on_commit_callbacks, _upstream(4.35)[1:])
    assert BUNDLE not in client.get("/countries/MN/").content.decode()


def test_a_sync_that_writes_nothing_keeps_the_cache(
    client, sync_settings, mocked_responses, django_capture_on_commit_callbacks
):
    _sync(mocked_responses, django_capture_on_commit_callbacks, _upstream(4.35))
    client.get("/countries/MN/")
    version = page_cache.catalogue_version()
    result = _sync(mocked_responses, django_capture_on_commit_callbacks, _upstream(4.35))
    assert (result.created, result.updated, result.retired) == (0, 0, 0)
    assert page_cache.catalogue_version() == version
    assert client.get("/countries/MN/")[CACHE] == "hit"


def test_the_version_moves_only_after_the_sync_commits(
    sync_settings, mocked_responses, django_capture_on_commit_callbacks
):
    mock_catalogue(mocked_responses, _upstream(4.35), 100)
    version = page_cache.catalogue_version()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        sync_catalog()
    assert page_cache.catalogue_version() == version  # not yet: other requests could still read the old rows
    for callback in callbacks:
        callback()
    assert page_cache.catalogue_version() > version


def test_a_staff_price_override_invalidates_cached_pages(
    client, admin_client, catalogue, django_capture_on_commit_callbacks
):
    urls = ["/", "/countries/MN/", f"/bundles/{BUNDLE}/", "/api/packages/?country=MN"]
    for url in urls:
        assert shows_price(client.get(url), 4500)
    bundle = selectors.get_bundle(BUNDLE)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:catalog_bundle_change", args=[bundle.pk]), {"price_override_mnt": "3900"}
        )
    assert response.status_code == 302
    for url in urls:
        response = client.get(url)
        assert shows_price(response, 3900) and not shows_price(response, 4500), url


def test_a_staff_region_edit_invalidates_cached_pages(
    client, admin_client, catalogue, django_capture_on_commit_callbacks
):
    from catalog.models import Region

    assert "/regions/asia/" in client.get("/").content.decode()
    region = Region.objects.get(slug="asia")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:catalog_region_change", args=[region.pk]), {"name": "Asia", "slug": "asia-pacific"}
        )
    assert response.status_code == 302
    html = client.get("/").content.decode()
    assert "/regions/asia-pacific/" in html and "/regions/asia/" not in html


def test_a_page_rendered_while_the_catalogue_changes_is_not_kept_for_the_new_version(client, catalogue, monkeypatch):
    """The key's version is read before the view reads the database: a page built from rows that
    may predate a sync's commit is stored under the old version, which nobody asks for any more."""
    original = selectors.popular_countries

    def sync_commits_meanwhile():
        page_cache.bump_catalogue_version()
        return original()

    monkeypatch.setattr(selectors, "popular_countries", sync_commits_meanwhile)
    assert client.get("/")[CACHE] == "miss"
    monkeypatch.setattr(selectors, "popular_countries", original)
    assert client.get("/")[CACHE] == "miss"
    assert client.get("/")[CACHE] == "hit"


def test_a_lost_version_starts_a_new_epoch_instead_of_reusing_old_numbers(catalogue, client):
    from django.core.cache import cache

    client.get("/")
    before = page_cache.catalogue_version()
    cache.delete(page_cache.VERSION_KEY)  # evicted (Redis under memory pressure)
    assert page_cache.catalogue_version() != before
    assert page_cache.bump_catalogue_version() > before


# --- Languages ---------------------------------------------------------------------------


def test_mongolian_and_english_pages_never_mix(client, catalogue):
    url = "/countries/MN/"
    mongolian = client.get(url)
    assert mongolian["Content-Language"] == "mn" and "Монгол Улс" in mongolian.content.decode()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    for expected_cache in ("miss", "hit"):
        english = client.get(url)
        html = english.content.decode()
        assert english[CACHE] == expected_cache
        assert english["Content-Language"] == "en" and '<html lang="en">' in html
        assert "eSIM for Mongolia" in html and "Монгол Улс" not in html
    del client.cookies[settings.LANGUAGE_COOKIE_NAME]
    again = client.get(url)
    assert again[CACHE] == "hit" and again["Content-Language"] == "mn"
    assert again.content == mongolian.content
    assert "Cookie" in again["Vary"]


def test_api_languages_never_mix_and_vary_on_accept_language(client, catalogue):
    url = "/api/packages/?country=MN"
    for _ in range(2):
        english = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
        mongolian = client.get(url)
        assert english.json()[0]["name"] == "Mongolia 1 GB · 7 days" and english["Content-Language"] == "en"
        assert mongolian.json()[0]["name"] == "Монгол Улс 1 ГБ · 7 хоног" and mongolian["Content-Language"] == "mn"
    assert english[CACHE] == mongolian[CACHE] == "hit"
    vary = {v.strip() for v in english["Vary"].split(",")}
    assert {"Accept-Language", "Cookie"} <= vary


# --- Junk query strings ------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        "sort=per_gb&unlimited=no",  # keys in another order
        "unlimited=no&sort=per_gb&utm_source=newsletter&fbclid=AbC123",  # unknown parameters
        "unlimited=no&sort=price&sort=per_gb",  # repeated: the last one counts, as for the form
        "unlimited=no&sort=per_gb&data=&days=",  # empty filters
    ],
)
def test_equivalent_query_strings_share_one_cache_entry(client, catalogue, variant):
    assert client.get("/countries/MN/?unlimited=no&sort=per_gb")[CACHE] == "miss"
    response = client.get(f"/countries/MN/?{variant}")
    assert response[CACHE] == "hit"
    assert [b for b in ("esim_5GB_15D_RAS_V2", BUNDLE) if b in response.content.decode()]


def test_unknown_parameters_on_pages_without_filters_are_ignored(client, catalogue):
    client.get("/")
    for junk in ("a=1", "x" * 2000 + "=y", "q=" + "z" * 5000):
        assert client.get(f"/?{junk}")[CACHE] == "hit"


@pytest.mark.parametrize("query", ["sort=bogus", "data=" + "x" * 500, "days=%00"])
def test_invalid_or_oversized_filters_are_shown_but_never_stored(client, catalogue, query):
    for _ in range(2):
        response = client.get(f"/countries/MN/?{query}")
        assert response.status_code == 200 and response[CACHE] == "bypass"
        assert 'class="errorlist"' in response.content.decode()


def test_oversized_paths_are_never_stored(client, catalogue):
    url = f"/bundles/{'x' * (page_cache.MAX_PATH_LENGTH + 1)}/"
    for _ in range(2):
        response = client.get(url)
        assert response.status_code == 404 and response[CACHE] == "bypass"


# --- Nothing per visitor -----------------------------------------------------------------


def test_cached_pages_hold_no_csrf_token_cookie_or_visitor_query(client, catalogue):
    client.get("/countries/MN/?sort=per_gb&utm_source=alice-newsletter")
    response = client.get("/countries/MN/?sort=per_gb&utm_source=bob")
    assert response[CACHE] == "hit"
    html = response.content.decode()
    assert "csrfmiddlewaretoken" not in html and "csrftoken" not in response.cookies
    assert not response.cookies
    assert "utm_source" not in html and "alice" not in html
    assert 'href="/lang/en/?next=/countries/MN/%3Fsort%3Dper_gb"' in html


def test_a_response_that_used_a_csrf_token_is_never_stored(rf, db):
    """Safety net: if a cached view ever renders a CSRF token, caching stops rather than sharing it."""

    @page_cache.storefront_page()
    def view_with_a_form(request):
        return HttpResponse(f"<input name=csrfmiddlewaretoken value={get_token(request)}>")

    first, second = view_with_a_form(rf.get("/form/")), view_with_a_form(rf.get("/form/"))
    assert first[CACHE] == second[CACHE] == "bypass"
    assert first.content != second.content


def test_staff_are_never_served_or_stored(client, admin_client, catalogue):
    assert admin_client.get("/")[CACHE] == "bypass"
    assert client.get("/")[CACHE] == "miss"  # the staff request stored nothing
    assert admin_client.get("/")[CACHE] == "bypass"  # and reads nothing


def test_an_anonymous_shopper_with_a_session_gets_cached_pages(client, catalogue):
    client.get("/")
    shopper = Client()
    session = shopper.session
    session["invoice_ids"] = ["00000000-0000-0000-0000-000000000000"]
    session.save()
    shopper.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    assert shopper.get("/")[CACHE] == "hit"


# --- Language links ----------------------------------------------------------------------


def test_language_link_sets_the_cookie_and_returns_to_the_page(client, catalogue):
    response = client.get("/lang/en/", {"next": "/countries/MN/?sort=per_gb"})
    assert response.status_code == 302 and response["Location"] == "/countries/MN/?sort=per_gb"
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "en" and int(cookie["max-age"]) == settings.LANGUAGE_COOKIE_AGE
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    assert client.get("/countries/MN/?sort=per_gb")["Content-Language"] == "en"


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/",
        "//evil.example/phish",
        "/\\evil.example",
        "http://testserver.evil.example/",
        "javascript:alert(1)",
        "",
    ],
)
def test_language_link_refuses_an_off_site_next(client, db, next_url):
    response = client.get("/lang/en/", {"next": next_url})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"


def test_language_link_without_next_goes_home(client, db):
    response = client.get("/lang/mn/")
    assert response.status_code == 302 and response["Location"] == "/"


def test_unknown_language_is_404_and_sets_nothing(client, db):
    response = client.get("/lang/xx/", {"next": "/"})
    assert response.status_code == 404
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


def test_language_link_answers_only_get(client, db):
    assert client.post("/lang/en/", {"next": "/"}).status_code == 405

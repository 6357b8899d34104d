"""Storefront pages: what a shopper sees, filters that never fail, and constant query counts."""

import pytest
from django.urls import reverse

from catalog.models import Bundle

from .factories import BundleFactory, CountryFactory, RegionFactory, refresh_country_stats

pytestmark = pytest.mark.django_db


@pytest.fixture
def asia():
    region = RegionFactory(name="Asia", slug="asia")
    for iso in ("MN", "JP", "KR", "CN"):
        CountryFactory(iso=iso, region=region)
    return region


@pytest.fixture
def catalogue(asia):
    """Mongolia: two local plans, one unlimited, one regional (roaming only), one retired."""
    bundles = {
        "small": BundleFactory(
            name="esim_1GB_7D_MN_V2", countries=["MN"], data_amount_mb=1000, duration_days=7, computed_price_mnt=4500
        ),
        "big": BundleFactory(
            name="esim_20GB_30D_MN_V2",
            countries=["MN"],
            data_amount_mb=20000,
            duration_days=30,
            computed_price_mnt=39000,
        ),
        "unlimited": BundleFactory(
            name="esim_ULP_7D_MN_V2",
            countries=["MN"],
            data_amount_mb=-1,
            unlimited=True,
            duration_days=7,
            computed_price_mnt=52000,
        ),
        "regional": BundleFactory(
            name="esim_5GB_15D_RAS_V2",
            countries=["JP", "KR"],
            roaming=["MN", "CN"],
            data_amount_mb=5000,
            duration_days=15,
            computed_price_mnt=20000,
            price_override_mnt=18500,
        ),
        "retired": BundleFactory(
            name="esim_3GB_7D_MN_V2", countries=["MN"], data_amount_mb=3000, computed_price_mnt=9900, is_available=False
        ),
    }
    refresh_country_stats()
    return bundles


def names(response):
    return [b.name for b in response.context["bundles"]]


def test_home_shows_search_popular_destinations_with_min_price_and_regions(client, catalogue):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="q"' in html
    assert [c.iso.code for c in response.context["popular"]] == ["CN", "KR", "JP", "MN"]  # fixed popular order
    assert "Монгол Улс" in html  # Mongolian by default
    assert "4,500₮" in html  # cheapest Mongolian plan
    assert reverse("catalog:region", args=["asia"]) in html
    assert reverse("catalog:countries") in html


def test_country_page_lists_local_and_roaming_regional_bundles_but_not_retired(client, catalogue):
    response = client.get("/countries/MN/")
    assert response.status_code == 200
    assert names(response) == ["esim_1GB_7D_MN_V2", "esim_5GB_15D_RAS_V2", "esim_20GB_30D_MN_V2", "esim_ULP_7D_MN_V2"]
    html = response.content.decode()
    assert "18,500₮" in html  # staff override wins over the computed price
    assert "3,700₮" in html  # per GB: 18,500 / 5 GB
    # Cards that can be told apart (issue 13): scope, coverage and the unlimited tier; grouped by scope.
    assert "Бүсийн · 4 улс" in html and "Зөвхөн энэ улсад" in html
    assert "Plus: өдөрт 2 ГБ бүрэн хурдаар, дараа нь 2 Mbps" in html
    assert [g["scope"] for g in response.context["groups"]] == ["local", "regional"]
    assert html.index('id="plans-local"') < html.index('id="plans-regional"')
    assert "esim_3GB_7D_MN_V2" not in html


def test_country_iso_is_case_insensitive(client, catalogue):
    response = client.get("/countries/mn/")
    assert response.status_code == 200
    assert response.context["country"].iso.code == "MN"


@pytest.mark.parametrize("iso", ["XX", "zz", "MNG", "1", "%20"])
def test_unknown_country_is_a_friendly_404(client, catalogue, iso):
    response = client.get(f"/countries/{iso}/")
    assert response.status_code == 404
    assert "Хуудас олдсонгүй" in response.content.decode()


@pytest.mark.parametrize(
    "query, expected",
    [
        ("data=upto3", ["esim_1GB_7D_MN_V2"]),
        ("data=3to10", ["esim_5GB_15D_RAS_V2"]),
        ("data=over10", ["esim_20GB_30D_MN_V2"]),
        ("days=upto7", ["esim_1GB_7D_MN_V2", "esim_ULP_7D_MN_V2"]),
        ("days=16to30", ["esim_20GB_30D_MN_V2"]),
        ("unlimited=yes", ["esim_ULP_7D_MN_V2"]),
        ("unlimited=no&days=upto7", ["esim_1GB_7D_MN_V2"]),
        ("sort=-price", ["esim_ULP_7D_MN_V2", "esim_20GB_30D_MN_V2", "esim_5GB_15D_RAS_V2", "esim_1GB_7D_MN_V2"]),
        ("sort=data", ["esim_ULP_7D_MN_V2", "esim_20GB_30D_MN_V2", "esim_5GB_15D_RAS_V2", "esim_1GB_7D_MN_V2"]),
        ("sort=days", ["esim_20GB_30D_MN_V2", "esim_5GB_15D_RAS_V2", "esim_1GB_7D_MN_V2", "esim_ULP_7D_MN_V2"]),
        # per GB: 20GB 1,950; 5GB 3,700; 1GB 4,500; unlimited last
        ("sort=per_gb", ["esim_20GB_30D_MN_V2", "esim_5GB_15D_RAS_V2", "esim_1GB_7D_MN_V2", "esim_ULP_7D_MN_V2"]),
    ],
)
def test_country_page_filters_and_sorting(client, catalogue, query, expected):
    response = client.get(f"/countries/MN/?{query}")
    assert response.status_code == 200
    assert names(response) == expected
    assert not response.context["form"].errors


@pytest.mark.parametrize(
    "query", ["data=lots", "days=-1", "unlimited=maybe", "sort=name;drop", "data=%00", "sort=per_gb&sort=x"]
)
def test_invalid_filters_are_reported_and_ignored(client, catalogue, query):
    response = client.get(f"/countries/MN/?{query}")
    assert response.status_code == 200
    assert response.context["form"].errors
    assert 'class="errorlist"' in response.content.decode()
    assert len(response.context["bundles"]) == 4


def test_invalid_filter_keeps_the_valid_ones(client, catalogue):
    response = client.get("/countries/MN/?data=upto3&days=forever")
    assert names(response) == ["esim_1GB_7D_MN_V2"]


def test_country_without_plans_renders_an_empty_state(client, catalogue):
    CountryFactory(iso="FR", region=RegionFactory(name="Europe", slug="europe"))
    response = client.get("/countries/FR/")
    assert response.status_code == 200
    assert response.context["bundles"] == []


def _many_bundles(count):
    for n in range(count):
        BundleFactory(
            name=f"esim_{n + 1}GB_{n + 1}D_MN_V2",
            countries=["MN"],
            data_amount_mb=1000 * (n + 1),
            duration_days=n + 1,
            computed_price_mnt=1000 * (n + 5),
        )
    for n in range(count // 5):
        BundleFactory(name=f"esim_{n + 1}GB_7D_RAS_V2", countries=["JP"], roaming=["MN", "KR"])
    refresh_country_stats()


@pytest.mark.parametrize("count", [5, 50])
def test_country_page_query_count_is_constant(client, asia, django_assert_max_num_queries, count):
    _many_bundles(count)
    with django_assert_max_num_queries(2):
        response = client.get("/countries/MN/?sort=per_gb&unlimited=no")
    assert len(response.context["bundles"]) == count + count // 5


@pytest.mark.parametrize("count", [5, 50])
def test_listing_pages_query_counts_are_constant(client, asia, django_assert_max_num_queries, count):
    _many_bundles(count)
    bundle = Bundle.objects.filter(name__endswith="RAS_V2").first()
    for url, budget in [
        ("/", 2),
        ("/countries/", 2),
        ("/regions/asia/", 3),
        (f"/bundles/{bundle.name}/", 2),
        ("/search/?q=zzz", 1),
    ]:
        with django_assert_max_num_queries(budget):
            assert client.get(url).status_code == 200, url


def test_countries_a_to_z_are_grouped_by_letter_in_mongolian_order(client, catalogue):
    # Аландын Арлууд, Казахстан, Украин, Өмнөд Африк (+ Монгол Улс, Япон, Өмнөд Солонгос, Хятад)
    BundleFactory(name="esim_1GB_7D_WORLD", countries=["UA", "KZ", "ZA", "AX"])
    refresh_country_stats()
    response = client.get("/countries/")
    groups = dict(response.context["letters"])
    # Code-point order would put Ө after Я; Mongolian puts it right after О.
    assert list(groups) == ["А", "К", "М", "Ө", "У", "Х", "Я"]
    assert [c.code for c in groups["Ө"]] == ["ZA", "KR"]  # Өмнөд Африк < Өмнөд Солонгос
    html = response.content.decode()
    assert "🇲🇳" in html  # emoji flag, no remote image
    assert "Монгол Улс" in html


def test_countries_a_to_z_in_english(client, catalogue):
    CountryFactory(iso="AX", region=None)
    BundleFactory(name="esim_1GB_7D_AX", countries=["AX"])
    refresh_country_stats()
    client.cookies["django_language"] = "en"
    response = client.get("/countries/")
    groups = dict(response.context["letters"])
    assert [c.code for c in groups["A"]] == ["AX"]  # Åland Islands files under A
    assert list(groups) == sorted(groups)
    assert [c.code for c in groups["M"]] == ["MN"]


def test_region_page_lists_its_countries_and_multi_country_bundles(client, catalogue):
    response = client.get("/regions/asia/")
    assert response.status_code == 200
    assert {c.code for c in response.context["countries"]} == {"MN", "JP", "KR", "CN"}
    assert names(response) == ["esim_5GB_15D_RAS_V2"]


def test_unknown_region_is_404(client, catalogue):
    assert client.get("/regions/atlantis/").status_code == 404


@pytest.mark.parametrize(
    "query, iso",
    [
        ("Монгол", "MN"),
        ("mongolia", "MN"),
        ("jp", "JP"),
        ("JPN", "JP"),
        ("Япон", "JP"),
        ("  japan ", "JP"),
        ("Хятад", "CN"),
    ],
)
def test_search_with_one_match_redirects_to_the_country(client, catalogue, query, iso):
    response = client.get("/search/", {"q": query})
    assert response.status_code == 302
    assert response["Location"] == reverse("catalog:country", args=[iso])


def test_search_with_several_matches_lists_them(client, catalogue):
    response = client.get("/search/", {"q": "Солонгос"})  # only South Korea is sold here
    assert response.status_code == 302
    CountryFactory(iso="KP", region=None)
    BundleFactory(name="esim_1GB_7D_KP", countries=["KP"])
    refresh_country_stats()
    response = client.get("/search/", {"q": "korea"})
    assert response.status_code == 200
    assert {c.code for c in response.context["countries"]} == {"KR", "KP"}


@pytest.mark.parametrize("query", ["", "   ", "zzzzzz", "'; DROP TABLE", "x" * 5000, "%"])
def test_search_without_a_match_never_fails(client, catalogue, query):
    response = client.get("/search/", {"q": query})
    assert response.status_code == 200
    assert response.context["countries"] == []


def test_bundle_detail_has_what_a_buyer_needs(client, catalogue):
    response = client.get("/bundles/esim_5GB_15D_RAS_V2/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "18,500₮" in html and "3,700₮" in html
    assert "5 ГБ" in html and "15 хоног" in html
    assert "4G / 5G" in html
    assert [c.iso for c in response.context["coverage"]] and {c.iso for c in response.context["coverage"]} == {
        "JP",
        "KR",
        "MN",
        "CN",
    }
    assert "🇯🇵" in html
    assert response.context["title"] == "Ази (4 улс) 5 ГБ · 15 хоног"


def test_bundle_detail_explains_unlimited_policy(client, catalogue):
    client.cookies["django_language"] = "en"
    response = client.get("/bundles/esim_ULP_7D_MN_V2/")
    html = response.content.decode()
    assert "Unlimited" in html and "2 GB every 24 hours" in html and "2 Mbps" in html
    assert response.context["bundle"].price_per_gb_mnt is None


def test_bundle_buy_button_links_to_checkout(client, catalogue, monkeypatch):
    import catalog.views

    monkeypatch.setattr(
        catalog.views, "reverse", lambda name, args: f"/checkout/{args[0]}/" if name == "payments:checkout" else None
    )
    response = client.get("/bundles/esim_1GB_7D_MN_V2/")
    assert response.status_code == 200
    assert 'class="button buy" href="/checkout/esim_1GB_7D_MN_V2/"' in response.content.decode()


def test_bundle_page_survives_missing_checkout_url(client, catalogue, monkeypatch):
    from django.urls import NoReverseMatch

    import catalog.views

    def no_checkout(*args, **kwargs):
        raise NoReverseMatch("payments not installed")

    monkeypatch.setattr(catalog.views, "reverse", no_checkout)
    response = client.get("/bundles/esim_1GB_7D_MN_V2/")
    assert response.status_code == 200
    assert response.context["checkout_url"] is None
    assert 'aria-disabled="true"' in response.content.decode()


def test_retired_bundle_page_says_so_without_buy_button(client, catalogue):
    response = client.get("/bundles/esim_3GB_7D_MN_V2/")
    assert response.status_code == 200
    assert response.context["checkout_url"] is None
    html = response.content.decode()
    assert 'class="notice"' in html
    assert 'class="button buy"' not in html and "aria-disabled" not in html
    assert 'name="robots" content="noindex"' in html


def test_unknown_bundle_is_404(client, catalogue):
    response = client.get("/bundles/esim_nope/")
    assert response.status_code == 404


@pytest.mark.parametrize("name", ["esim_1GB_7D_MN_V2", "esim 1GB", "esim_ü_V2", "a&b=c", "x%y", "plan~1:2@3"])
def test_bundle_links_in_lists_match_reverse(name):
    from catalog.views import bundle_url

    prefix = reverse("catalog:bundle", args=["_"])[:-2]
    assert bundle_url(prefix, name) == reverse("catalog:bundle", args=[name])

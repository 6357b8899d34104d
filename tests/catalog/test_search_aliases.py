"""Search finds destinations by city, Latin spelling of the Mongolian name and region (issue 13),
and /regions/global/ lists the plans that span the world."""

import pytest
from django.urls import reverse

from .factories import BundleFactory, CountryFactory, RegionFactory, refresh_country_stats

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    asia, europe, america = (
        RegionFactory(name=n, slug=s)
        for n, s in [("Asia", "asia"), ("Europe", "europe"), ("North America", "north-america")]
    )
    for iso, region in [
        ("JP", asia),
        ("TH", asia),
        ("MN", asia),
        ("KR", asia),
        ("FR", europe),
        ("DE", europe),
        ("US", america),
    ]:
        CountryFactory(iso=iso, region=region)
    BundleFactory(name="esim_1GB_7D_JP_V2", countries=["JP"])
    BundleFactory(name="esim_1GB_7D_TH_V2", countries=["TH"])
    BundleFactory(name="esim_1GB_7D_MN_V2", countries=["MN"])
    BundleFactory(name="esim_1GB_7D_KR_V2", countries=["KR"])
    BundleFactory(name="esim_1GB_7D_REUP_V2", countries=["FR"], roaming=["DE"])
    BundleFactory(name="esim_1GB_7D_RGBS_V2", countries=["US"], roaming=["JP", "FR"])
    refresh_country_stats()


@pytest.mark.parametrize(
    "query, iso",
    [
        ("Tokyo", "JP"),
        ("токио", "JP"),
        ("Tailand", "TH"),
        ("Bangkok", "TH"),
        ("yapon", "JP"),
        ("Mongol uls", "MN"),
        ("Solongos", "KR"),
        ("Сөүл", "KR"),
    ],
)
def test_cities_and_latin_spellings_find_the_country(client, world, query, iso):
    response = client.get("/search/", {"q": query})
    assert response.status_code == 302, query
    assert response["Location"] == reverse("catalog:country", args=[iso])


@pytest.mark.parametrize(
    "query, slug",
    [("Европ", "europe"), ("europe", "europe"), ("Ази", "asia"), ("global", "global"), ("Дэлхий", "global")],
)
def test_region_names_find_the_region(client, world, query, slug):
    response = client.get("/search/", {"q": query})
    assert response.status_code == 302, query
    assert response["Location"] == reverse("catalog:region", args=[slug])


def test_global_lists_plans_spanning_regions_and_region_page_shows_plans_first(client, world):
    response = client.get("/regions/global/")
    assert response.status_code == 200
    assert [b.name for b in response.context["bundles"]] == ["esim_1GB_7D_RGBS_V2"]
    html = client.get("/regions/europe/").content.decode()
    assert html.index("esim_1GB_7D_REUP_V2") < html.index('class="country-list"')
    assert 'href="/regions/global/"' in client.get("/").content.decode()

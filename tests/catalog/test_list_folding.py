"""Long plan lists stay light on a phone: the cheapest cards, the rest folded into a
"show N more" <details> that opens without JavaScript; a filtered list is shown whole."""

import re

import pytest

from .factories import BundleFactory, CountryFactory, RegionFactory, refresh_country_stats

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def mongolia():
    region = RegionFactory(name="Asia", slug="asia")
    CountryFactory(iso="MN", region=region)
    CountryFactory(iso="JP", region=region)
    for n in range(1, 12):  # 11 local plans, cheapest first: 1 GB ... 11 GB
        BundleFactory(
            name=f"esim_{n}GB_30D_MN_V2",
            countries=["MN"],
            data_amount_mb=n * 1000,
            duration_days=30,
            computed_price_mnt=1000 * n,
        )
    BundleFactory(name="esim_1GB_7D_RAS_V2", countries=["JP"], roaming=["MN"], computed_price_mnt=9000)
    refresh_country_stats()


def cards(html):
    """(unfolded bundle names, folded bundle names) of one page."""
    pick = re.compile(r'href="/bundles/([^/]+)/"')
    folded_parts = re.findall(r'<details class="more-plans">.*?</details>', html, flags=re.S)
    unfolded = re.sub(r'<details class="more-plans">.*?</details>', "", html, flags=re.S)
    return pick.findall(unfolded), [name for part in folded_parts for name in pick.findall(part)]


def test_a_long_group_shows_its_cheapest_six_and_folds_the_rest(client):
    html = client.get("/countries/MN/").content.decode()
    shown, folded = cards(html)
    assert shown[:6] == [f"esim_{n}GB_30D_MN_V2" for n in range(1, 7)]
    assert folded[:5] == [f"esim_{n}GB_30D_MN_V2" for n in range(7, 12)]
    assert "Дахиад 5 багц харах" in html  # the <summary>, in Mongolian
    assert "esim_1GB_7D_RAS_V2" in shown  # the short regional group is not folded
    assert html.count('<details class="more-plans">') == 1
    english = client.get("/countries/MN/?lang=en").content.decode()
    assert "Show 5 more plans</summary>" in english


def test_a_filtered_list_is_shown_whole(client):
    html = client.get("/countries/MN/?days=16to30").content.decode()
    shown, folded = cards(html)
    assert len(shown) == 11 and folded == []
    assert "more-plans" not in html


def test_a_list_only_a_little_longer_is_not_folded(client):
    for n in range(9, 12):
        BundleFactory._meta.model.objects.filter(name=f"esim_{n}GB_30D_MN_V2").update(is_available=False)
    shown, folded = cards(client.get("/countries/MN/").content.decode())
    assert len([s for s in shown if s.endswith("_MN_V2")]) == 8 and folded == []

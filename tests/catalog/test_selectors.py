"""Catalogue reads and the derived values shoppers see (formatting, per-GB price, ordering, search)."""

import pytest
from django.template import Context, Template
from django.utils import translation

from catalog import presentation, selectors

from .factories import BundleFactory, CountryFactory, RegionFactory, refresh_country_stats


@pytest.mark.parametrize(
    "value, shown",
    [
        (12500, "12,500₮"),
        (4500, "4,500₮"),
        (0, "0₮"),
        (1234567, "1,234,567₮"),
        ("900", "900₮"),
        (None, ""),
        ("abc", ""),
    ],
)
def test_mnt_filter(value, shown):
    assert Template("{% load catalog_tags %}{{ v|mnt }}").render(Context({"v": value})) == shown


@pytest.mark.parametrize(
    "price, mb, unlimited, per_gb",
    [
        (4500, 1000, False, 4500),
        (18500, 5000, False, 3700),
        (10000, 3000, False, 3333),
        (10001, 2000, False, 5001),
        (5000, 500, False, 10000),
        (52000, -1, True, None),
        (1000, 0, False, None),
    ],
)
def test_price_per_gb_is_integer_mnt(price, mb, unlimited, per_gb):
    assert presentation.price_per_gb_mnt(price, mb, unlimited) == per_gb


@pytest.mark.parametrize(
    "mb, unlimited, en, mn",
    [
        (1000, False, "1 GB", "1 ГБ"),
        (1500, False, "1.5 GB", "1.5 ГБ"),
        (500, False, "500 MB", "500 МБ"),
        (20000, False, "20 GB", "20 ГБ"),
        (-1, True, "Unlimited", "Хязгааргүй"),
    ],
)
def test_data_amount_in_both_languages(mb, unlimited, en, mn):
    with translation.override("en"):
        assert presentation.format_data_amount(mb, unlimited) == en
    with translation.override("mn"):
        assert presentation.format_data_amount(mb, unlimited) == mn


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("esim_UL_1D_TR_V2", "512 kbps"),
        ("esim_ULE_7D_MN_V2", "1.25 Mbps"),
        ("esim_ULP_1D_TR_V2", "2 Mbps"),
        ("esim_unlimited_X", "speed may be reduced"),
    ],
)
def test_unlimited_policy_by_tier(name, fragment):
    with translation.override("en"):
        assert fragment in presentation.unlimited_policy(name, True)
        assert presentation.unlimited_policy(name, False) == ""


def test_collation_orders_mongolian_letters_like_the_alphabet():
    names = ["Япон", "Өмнөд Африк", "Ёндон", "Оман", "Үндэс", "Ем", "Уганда", "Аргентин"]
    ordered = sorted(names, key=lambda n: presentation.collation_key(n, "mn"))
    assert ordered == ["Аргентин", "Ем", "Ёндон", "Оман", "Өмнөд Африк", "Уганда", "Үндэс", "Япон"]
    assert [presentation.index_letter(n, "mn") for n in ("Өмнөд", "Ёндон", "Йемен")] == ["Ө", "Ё", "Й"]


def test_collation_ignores_accents_and_case_in_english():
    names = ["Zambia", "Åland Islands", "albania", "Côte d'Ivoire", "Curaçao", "Cuba"]
    assert sorted(names, key=lambda n: presentation.collation_key(n, "en")) == [
        "Åland Islands",
        "albania",
        "Côte d'Ivoire",
        "Cuba",
        "Curaçao",
        "Zambia",
    ]
    assert presentation.index_letter("Åland Islands", "en") == "A"


def test_flag_is_an_emoji():
    assert presentation.country_flag("MN") == "🇲🇳"


@pytest.mark.django_db
class TestBundlesForCountry:
    @pytest.fixture(autouse=True)
    def setup(self):
        asia = RegionFactory(name="Asia", slug="asia")
        CountryFactory(iso="MN", region=asia)
        self.local = BundleFactory(name="local", countries=["MN"], computed_price_mnt=5000)
        self.regional = BundleFactory(name="regional", countries=["JP", "KR"], roaming=["MN"], computed_price_mnt=9000)
        self.elsewhere = BundleFactory(name="elsewhere", countries=["JP"], computed_price_mnt=1000)
        self.retired = BundleFactory(name="retired", countries=["MN"], is_available=False)

    def test_includes_roaming_coverage_and_excludes_retired_and_other_countries(self):
        bundles = list(selectors.available_bundles_for_country("MN"))
        assert [b.name for b in bundles] == ["local", "regional"]
        assert [b.covers_count for b in bundles] == [1, 3]
        assert [b.retail_price_mnt for b in bundles] == [5000, 9000]

    def test_staff_override_drives_price_sorting(self):
        self.regional.price_override_mnt = 100
        self.regional.save()
        assert [b.name for b in selectors.available_bundles_for_country("MN")] == ["regional", "local"]

    def test_country_is_sold(self):
        assert selectors.country_is_sold(CountryFactory(iso="MN"))
        CountryFactory(iso="TH")
        assert not selectors.country_is_sold(CountryFactory(iso="TH"))

    def test_coverage_for_bundles_in_one_query(self, django_assert_num_queries):
        with django_assert_num_queries(1):
            coverage = selectors.coverage_for_bundles([self.local.pk, self.regional.pk])
        assert {c.iso for c in coverage[self.regional.pk]} == {"JP", "KR", "MN"}
        assert {c.iso for c in coverage[self.regional.pk] if c.is_roaming} == {"MN"}


@pytest.mark.django_db
def test_get_country_is_case_insensitive_and_rejects_garbage():
    CountryFactory(iso="MN")
    assert selectors.get_country("mn").iso.code == "MN"
    for value in ("", "M", "MNG", "1N", "../", None):
        assert selectors.get_country(value) is None


@pytest.mark.django_db
def test_search_matches_codes_and_names_in_both_languages():
    BundleFactory(name="b1", countries=["MN", "KR", "KP", "US", "AU"])
    refresh_country_stats()
    with translation.override("mn"):
        assert selectors.search_countries("us", "mn").exact.iso.code == "US"  # code beats "Australia" substring
        assert selectors.search_countries("Монгол", "mn").exact.iso.code == "MN"
        assert selectors.search_countries("өмнөд солонгос", "mn").exact.iso.code == "KR"
        korea = selectors.search_countries("korea", "mn")
        assert korea.exact is None and {c.iso.code for c in korea.countries} == {"KR", "KP"}
        assert selectors.search_countries("Франц", "mn").countries == []  # France is not sold

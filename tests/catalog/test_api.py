"""GET /api/packages/?country=XX: the country page's set as JSON, strict parameters, JSON errors."""

import pytest

from catalog.serializers import PackageSerializer

from .factories import BundleFactory, CountryFactory, RegionFactory, refresh_country_stats

pytestmark = pytest.mark.django_db

URL = "/api/packages/"


@pytest.fixture
def catalogue():
    asia = RegionFactory(name="Asia", slug="asia")
    for iso in ("MN", "JP", "KR"):
        CountryFactory(iso=iso, region=asia)
    BundleFactory(
        name="esim_1GB_7D_MN_V2",
        countries=["MN"],
        data_amount_mb=1000,
        duration_days=7,
        computed_price_mnt=4500,
        speed=["4G"],
    )
    BundleFactory(
        name="esim_ULE_7D_MN_V2",
        countries=["MN"],
        data_amount_mb=-1,
        unlimited=True,
        duration_days=7,
        computed_price_mnt=30000,
    )
    BundleFactory(
        name="esim_10GB_30D_RAS_V2",
        countries=["JP", "KR"],
        roaming=["MN"],
        data_amount_mb=10000,
        duration_days=30,
        computed_price_mnt=40000,
        price_override_mnt=35000,
    )
    BundleFactory(name="esim_2GB_7D_MN_V2", countries=["MN"], is_available=False)
    refresh_country_stats()


def test_lists_sellable_packages_of_a_country_including_regional(client, catalogue):
    response = client.get(URL, {"country": "MN"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    items = response.json()
    assert [i["packageCode"] for i in items] == ["esim_1GB_7D_MN_V2", "esim_ULE_7D_MN_V2", "esim_10GB_30D_RAS_V2"]
    local, unlimited, regional = items
    assert local == {
        "packageCode": "esim_1GB_7D_MN_V2",
        "name": "Mongolia 1 GB · 7 days",
        "amount": 4500,
        "currency": "MNT",
        "dataAmountMb": 1000,
        "durationDays": 7,
        "unlimited": False,
        "speed": ["4G"],
        "autostart": True,
        "pricePerGbMnt": 4500,
        "countries": ["MN"],
    }
    assert unlimited["dataAmountMb"] == -1 and unlimited["unlimited"] is True and unlimited["pricePerGbMnt"] is None
    assert regional["amount"] == 35000  # staff override
    assert regional["pricePerGbMnt"] == 3500
    assert regional["countries"] == ["JP", "KR", "MN"]  # base + roaming
    assert regional["name"] == "Asia (3 countries) 10 GB · 30 days"
    assert all(isinstance(i["amount"], int) for i in items)


def test_items_have_exactly_the_documented_shape(client, catalogue):
    """The view returns package_item dicts as they are; the schema's PackageSerializer must agree."""
    items = client.get(URL, {"country": "MN"}).json()
    assert items
    for item in items:
        assert set(item) == set(PackageSerializer().fields)
    assert PackageSerializer(items, many=True).data == items


def test_names_follow_the_request_language_mongolian_by_default(client, catalogue):
    items = client.get(URL, {"country": "mn"}).json()
    assert items[0]["name"] == "Монгол Улс 1 ГБ · 7 хоног"


def test_same_set_as_the_country_page(client, catalogue):
    api_codes = {i["packageCode"] for i in client.get(URL, {"country": "MN"}).json()}
    page_codes = {b.name for b in client.get("/countries/MN/").context["bundles"]}
    assert api_codes == page_codes


@pytest.mark.parametrize(
    "params", [{}, {"country": ""}, {"country": "M"}, {"country": "MNG"}, {"country": "1!"}, {"country": "М Н"}]
)
def test_missing_or_malformed_country_is_400_with_field_errors(client, catalogue, params):
    response = client.get(URL, params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and set(body) == {"code", "error", "errors"}
    assert list(body["errors"]) == ["country"] and isinstance(body["errors"]["country"], list)
    assert body["error"] == body["errors"]["country"][0]


@pytest.mark.parametrize("country", ["XX", "FR", "zz"])
def test_unknown_or_unsold_country_is_404_json(client, catalogue, country):
    CountryFactory(iso="FR", region=None)  # known to the catalogue, nothing on sale
    response = client.get(URL, {"country": country})
    assert response.status_code == 404
    assert set(response.json()) == {"code", "error"} and response.json()["code"] == "not_found"


def test_country_whose_bundles_are_all_retired_is_404(client, catalogue):
    CountryFactory(iso="TH", region=None)
    BundleFactory(name="esim_1GB_7D_TH_V2", countries=["TH"], is_available=False)
    assert client.get(URL, {"country": "TH"}).status_code == 404


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"unlimited": "true"}, ["esim_ULE_7D_MN_V2"]),
        ({"unlimited": "false"}, ["esim_1GB_7D_MN_V2", "esim_10GB_30D_RAS_V2"]),
        ({"minDays": "10"}, ["esim_10GB_30D_RAS_V2"]),
        ({"maxDays": "7"}, ["esim_1GB_7D_MN_V2", "esim_ULE_7D_MN_V2"]),
        ({"minDataMb": "5000"}, ["esim_ULE_7D_MN_V2", "esim_10GB_30D_RAS_V2"]),
        ({"sort": "-price"}, ["esim_10GB_30D_RAS_V2", "esim_ULE_7D_MN_V2", "esim_1GB_7D_MN_V2"]),
        ({"sort": "per_gb"}, ["esim_10GB_30D_RAS_V2", "esim_1GB_7D_MN_V2", "esim_ULE_7D_MN_V2"]),
        ({"unlimited": "false", "minDays": "8", "maxDays": "30"}, ["esim_10GB_30D_RAS_V2"]),
    ],
)
def test_optional_filters(client, catalogue, params, expected):
    response = client.get(URL, {"country": "MN", **params})
    assert response.status_code == 200
    assert [i["packageCode"] for i in response.json()] == expected


@pytest.mark.parametrize(
    "params, field",
    [
        ({"unlimited": "maybe"}, "unlimited"),
        ({"minDays": "0"}, "minDays"),
        ({"minDays": "abc"}, "minDays"),
        ({"maxDays": "99999999999999999999"}, "maxDays"),
        ({"minDataMb": "-5"}, "minDataMb"),
        ({"sort": "name"}, "sort"),
        ({"minDays": "10", "maxDays": "5"}, "maxDays"),
    ],
)
def test_bad_filter_values_are_400(client, catalogue, params, field):
    response = client.get(URL, {"country": "MN", **params})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and field in response.json()["errors"]


def test_filters_matching_nothing_give_an_empty_list_not_404(client, catalogue):
    response = client.get(URL, {"country": "MN", "minDays": "365"})
    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize("count", [5, 50])
def test_query_count_is_constant(client, django_assert_max_num_queries, count):
    CountryFactory(iso="MN", region=RegionFactory(name="Asia", slug="asia"))
    for n in range(count):
        BundleFactory(name=f"esim_{n}_MN", countries=["MN"], roaming=["JP", "KR"])
    with django_assert_max_num_queries(4):
        response = client.get(URL, {"country": "MN"})
    assert len(response.json()) == count


def test_unknown_api_url_is_json_404(client, db):
    response = client.get("/api/nothing-here/")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "error": "Олдсонгүй."}  # Mongolian unless asked
    english = client.get("/api/nothing-here/", HTTP_ACCEPT_LANGUAGE="en")
    assert english.json() == {"code": "not_found", "error": "Not found."}


def test_schema_documents_the_packages_endpoint(client, db):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json() if response["Content-Type"].startswith("application/json") else None
    if schema is None:
        import yaml

        schema = yaml.safe_load(response.content)
    operation = schema["paths"]["/api/packages/"]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert params["country"]["required"] is True
    assert {"unlimited", "minDays", "maxDays", "minDataMb", "sort"} <= set(params)
    assert {"200", "400", "404"} <= set(operation["responses"])
    item = schema["components"]["schemas"]["Package"]["properties"]
    assert {"packageCode", "amount", "dataAmountMb", "durationDays", "unlimited", "countries", "name"} <= set(item)

from urllib.parse import parse_qs, urlsplit

import pytest

from catalog.lpa import android_install_url, apple_install_url, build_lpa, smdp_host


@pytest.mark.parametrize(
    "address",
    ["rsp-3104.idemia.io", "https://rsp-3104.idemia.io", "http://rsp-3104.idemia.io/", " RSP-3104.idemia.io ".lower()],
)
def test_build_lpa_strips_scheme(address):
    assert build_lpa(address, "4I93G-KIS04-H5U") == "LPA:1$rsp-3104.idemia.io$4I93G-KIS04-H5U"


def test_smdp_host_keeps_port():
    assert smdp_host("https://smdp.example.com:8443/path") == "smdp.example.com:8443"


@pytest.mark.parametrize("address, matching_id", [("", "X"), ("https://", "X"), ("host", ""), ("host", "a$b")])
def test_build_lpa_rejects_empty_parts(address, matching_id):
    with pytest.raises(ValueError):
        build_lpa(address, matching_id)


def test_apple_link_carries_encoded_lpa():
    lpa = "LPA:1$rsp-3104.idemia.io$4I93G-KIS04-H5U"
    url = apple_install_url(lpa)
    assert (
        url
        == "https://esimsetup.apple.com/esim_qrcode_provisioning?carddata=LPA%3A1%24rsp-3104.idemia.io%244I93G-KIS04-H5U"
    )
    assert parse_qs(urlsplit(url).query)["carddata"] == [lpa]


def test_android_link_carries_encoded_lpa():
    lpa = "LPA:1$rsp-3104.idemia.io$4I93G-KIS04-H5U"
    url = android_install_url(lpa)
    assert url.startswith("https://esimsetup.android.com/esim_qrcode_provisioning?carddata=LPA%3A1%24")
    assert parse_qs(urlsplit(url).query)["carddata"] == [lpa]

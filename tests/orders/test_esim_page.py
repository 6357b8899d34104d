"""The eSIM page: capability URL, private headers, QR/LPA/install links, live preparing state."""

import uuid
from urllib.parse import quote

import pytest
from django.urls import reverse

from orders.models import Order
from tests.orders.factories import DeliveredOrderFactory, ESimFactory, InvoiceFactory, OrderFactory

pytestmark = pytest.mark.django_db

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36"
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"


@pytest.fixture
def delivered(bundle):
    esim = ESimFactory(
        iccid="8944501234567890123", matching_id="K2-4I93G-KIS04", smdp_address="https://rsp-3104.idemia.io/"
    )
    return DeliveredOrderFactory(invoice=InvoiceFactory(bundle=bundle, customer=esim.customer), esim=esim)


def assert_private(response):
    assert response["Cache-Control"] == "private, no-store"
    assert "noindex" in response["X-Robots-Tag"]
    assert response["Referrer-Policy"] == "same-origin"


def test_delivered_page_shows_codes_qr_and_install_links(client, delivered):
    response = client.get(delivered.get_absolute_url(), headers={"User-Agent": DESKTOP, "Accept-Language": "en"})
    assert response.status_code == 200
    assert_private(response)
    html = response.content.decode()
    lpa = "LPA:1$rsp-3104.idemia.io$K2-4I93G-KIS04"  # scheme and slash stripped
    assert lpa in html
    assert '<meta name="robots" content="noindex' in html
    assert ">rsp-3104.idemia.io<" in html and ">K2-4I93G-KIS04<" in html and "8944501234567890123" in html
    assert "<svg" in html and "<path" in html  # QR generated locally, inline
    assert "qrserver" not in html and "chart.googleapis" not in html
    apple = f"https://esimsetup.apple.com/esim_qrcode_provisioning?carddata={quote(lpa, safe='')}"
    android = f"https://esimsetup.android.com/esim_qrcode_provisioning?carddata={quote(lpa, safe='')}"
    # A computer (issue 13): the QR leads; no "install on this iPhone/Android" buttons.
    assert apple not in html and android not in html
    assert html.index("<svg") < html.index('id="smdp"')
    assert "data-status-url" not in html  # nothing to poll once delivered


def test_qr_decodes_to_exactly_the_lpa_string(client, delivered):
    """The QR on the page (SVG) and in the e-mail (PNG) both scan to the LPA string."""
    import io

    import zxingcpp
    from PIL import Image

    from orders import qr

    lpa = "LPA:1$rsp-3104.idemia.io$K2-4I93G-KIS04"
    html = client.get(delivered.get_absolute_url()).content.decode()
    assert qr.svg(lpa) in html  # the page embeds the SVG rendering of the same code
    [result] = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.png(lpa))))
    assert result.text == lpa


@pytest.mark.parametrize(
    "agent,shown,hidden",
    [
        (IPHONE, "esimsetup.apple.com", "esimsetup.android.com"),
        (ANDROID, "esimsetup.android.com", "esimsetup.apple.com"),
    ],
)
def test_install_link_matches_the_device(client, delivered, agent, shown, hidden):
    html = client.get(delivered.get_absolute_url(), headers={"User-Agent": agent}).content.decode()
    assert shown in html
    assert hidden not in html


def test_guessed_or_malformed_urls_are_404(client, delivered):
    assert client.get(f"/esims/{uuid.uuid4()}/").status_code == 404
    assert client.get(f"/esims/{uuid.uuid4()}/status.json").status_code == 404
    assert client.get(f"/esims/{delivered.pk}/").status_code == 404  # the sequential id is not a URL
    assert client.get("/esims/not-a-uuid/").status_code == 404


def test_guessing_one_character_off_is_404(client, delivered):
    text = str(delivered.public_id)
    neighbour = text[:-1] + ("0" if text[-1] != "0" else "1")
    assert client.get(f"/esims/{neighbour}/").status_code == 404


def test_preparing_state_polls_status_and_has_no_codes(client, bundle):
    order = OrderFactory(invoice=InvoiceFactory(bundle=bundle), status=Order.Status.PROVISIONING)
    response = client.get(order.get_absolute_url(), headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert_private(response)
    html = response.content.decode()
    status_url = reverse("orders:esim-status", args=[order.access_token])
    assert f'data-status-url="{status_url}"' in html
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in html
    assert "LPA:1$" not in html and "esimsetup" not in html

    status = client.get(status_url)
    assert_private(status)
    assert status.json() == {"status": "PROVISIONING", "ready": False, "url": order.get_absolute_url()}


def test_status_json_reports_ready(client, delivered):
    data = client.get(reverse("orders:esim-status", args=[delivered.access_token])).json()
    assert data == {"status": "DELIVERED", "ready": True, "url": delivered.get_absolute_url()}


@pytest.mark.parametrize(
    "status,text",
    [
        (Order.Status.NEEDS_ATTENTION, "taking a little longer"),
        (Order.Status.REFUNDED, "refunded"),
    ],
)
def test_delayed_and_refunded_pages(client, bundle, status, text):
    order = OrderFactory(invoice=InvoiceFactory(bundle=bundle), status=status)
    html = client.get(order.get_absolute_url(), headers={"Accept-Language": "en"}).content.decode()
    assert text in html
    assert "LPA:1$" not in html


def test_page_is_mongolian_by_default(mn_client, delivered):
    html = mn_client.get(delivered.get_absolute_url()).content.decode()
    assert 'lang="mn"' in html
    assert "Your eSIM" not in html  # translated


def test_only_get(client, delivered):
    assert client.post(delivered.get_absolute_url()).status_code == 405


def test_install_sheet_is_a_png_whose_qr_is_the_lpa(client, delivered):
    """Issue 13: a printable install sheet (made here, Pillow + qrcode) for a traveller without data."""
    import io

    import zxingcpp
    from PIL import Image

    page = client.get(delivered.get_absolute_url()).content.decode()
    url = f"/esims/{delivered.access_token}/install-sheet.png"
    assert f'href="{url}"' in page and 'href="/help/install/"' in page
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert "attachment" in response["Content-Disposition"] and response["Cache-Control"] == "private, no-store"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (1240, 1754)
    decoded = [r.text for r in zxingcpp.read_barcodes(image.convert("L"))]
    assert decoded == ["LPA:1$rsp-3104.idemia.io$K2-4I93G-KIS04"]

"""My eSIMs: magic links (single use, expiry, rate limit, no enumeration), the list, data left."""

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from orders import magic_links
from orders.models import MagicLinkToken, Order
from tests.conftest import ESIMGO_TEST_BASE_URL
from tests.orders.esimgo_mocks import esim_bundles
from tests.orders.factories import CustomerFactory, DeliveredOrderFactory, InvoiceFactory, OrderFactory

pytestmark = pytest.mark.django_db

MY = "/my-esims/"
LINK = re.compile(r"https://shop\.example\.mn(/my-esims/login/[^/\s]+/)")


def ask_for_link(client, email, ip="203.0.113.7", capture=None):
    if capture is None:
        return client.post(MY, {"email": email}, REMOTE_ADDR=ip, headers={"Accept-Language": "en"})
    with capture(execute=True):
        return client.post(MY, {"email": email}, REMOTE_ADDR=ip, headers={"Accept-Language": "en"})


def link_from_outbox():
    [message] = [m for m in mail.outbox if "/my-esims/login/" in m.body]
    return LINK.search(message.body).group(1)


@pytest.fixture
def shopper(bundle):
    customer = CustomerFactory(email="Bat@Example.mn")
    order = DeliveredOrderFactory(invoice=InvoiceFactory(bundle=bundle, customer=customer))
    return customer, order


@pytest.fixture
def usage_ok(mocked_responses):
    mocked_responses.get(
        re.compile(re.escape(ESIMGO_TEST_BASE_URL) + r"/esims/\d+/bundles.*"),
        json=esim_bundles("esim_1GB_7D_JP_V2", remaining=400_000_000),
    )
    return mocked_responses


def test_magic_link_signs_in_and_lists_esims_with_data_left(
    client, shopper, usage_ok, django_capture_on_commit_callbacks
):
    customer, order = shopper
    response = ask_for_link(client, "  bat@example.MN ", capture=django_capture_on_commit_callbacks)
    assert response.status_code == 200
    assert "If that address has eSIMs with us" in response.content.decode()
    path = link_from_outbox()
    # GET shows a button only (link scanners must not use the token up).
    assert client.get(path).status_code == 200
    assert MagicLinkToken.objects.get().used_at is None
    response = client.post(path)
    assert response.status_code == 302 and response["Location"] == MY
    page = client.get(MY, headers={"Accept-Language": "en"})
    assert page["Cache-Control"] == "private, no-store"
    html = page.content.decode()
    assert order.esim.iccid in html
    assert order.get_absolute_url() in html
    assert "400 MB of 1 GB" in html
    assert "2026-12-01" in html  # expiry
    assert "Ready" in html  # status
    assert order.created_at.strftime("%Y-%m-%d") in html


def test_link_is_single_use(client, shopper, django_capture_on_commit_callbacks):
    ask_for_link(client, "bat@example.mn", capture=django_capture_on_commit_callbacks)
    path = link_from_outbox()
    assert client.post(path).status_code == 302
    other = client.__class__()
    response = other.post(path)
    assert response.status_code == 410
    assert "my_esims_email" not in other.session


def test_link_expires(client, shopper, django_capture_on_commit_callbacks):
    ask_for_link(client, "bat@example.mn", capture=django_capture_on_commit_callbacks)
    path = link_from_outbox()
    with mock.patch("django.utils.timezone.now", return_value=timezone.now() + timedelta(minutes=31)):
        assert client.get(path).status_code == 410
        assert client.post(path).status_code == 410
    assert client.session.get("my_esims_email") is None


def test_forged_token_is_refused(client, shopper):
    assert client.post("/my-esims/login/not-a-real-token/").status_code == 410


def test_same_answer_whether_or_not_the_address_has_orders(client, shopper, django_capture_on_commit_callbacks):
    known = ask_for_link(client, "bat@example.mn", ip="198.51.100.1", capture=django_capture_on_commit_callbacks)
    unknown = ask_for_link(client, "nobody@example.mn", ip="198.51.100.2", capture=django_capture_on_commit_callbacks)
    strip = lambda r: re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", r.content.decode())  # noqa: E731
    assert known.status_code == unknown.status_code == 200
    assert strip(known) == strip(unknown)
    # Only the real owner gets mail; the stranger's address gets nothing.
    assert [m.to for m in mail.outbox] == [["bat@example.mn"]]
    assert MagicLinkToken.objects.get(email="nobody@example.mn").skipped


def test_rate_limited_per_email_and_per_ip(client, shopper, settings):
    settings.ORDERS_MAGIC_LINK_LIMIT_PER_EMAIL = (2, 900)
    settings.ORDERS_MAGIC_LINK_LIMIT_PER_IP = (3, 3600)
    assert ask_for_link(client, "bat@example.mn", ip="192.0.2.1").status_code == 200
    assert ask_for_link(client, "bat@example.mn", ip="192.0.2.2").status_code == 200
    limited = ask_for_link(client, "bat@example.mn", ip="192.0.2.3")
    assert limited.status_code == 429
    assert "Too many requests" in limited.content.decode()
    # Per IP: a fourth address from the same IP is refused too.
    for n in range(2):
        assert ask_for_link(client, f"x{n}@example.mn", ip="192.0.2.9").status_code == 200
    assert ask_for_link(client, "x9@example.mn", ip="192.0.2.9").status_code == 200
    assert ask_for_link(client, "y@example.mn", ip="192.0.2.9").status_code == 429
    assert MagicLinkToken.objects.count() == 5


def test_invalid_email_rerenders_form(client):
    response = client.post(MY, {"email": "not-an-email"}, headers={"Accept-Language": "en"})
    assert response.status_code == 400
    assert "errorlist" in response.content.decode()


def test_browser_that_paid_sees_its_orders_without_email(client, bundle, usage_ok):
    order = DeliveredOrderFactory(invoice=InvoiceFactory(bundle=bundle))
    preparing = OrderFactory(invoice=InvoiceFactory(bundle=bundle), status=Order.Status.PROVISIONING)
    stranger = DeliveredOrderFactory(invoice=InvoiceFactory(bundle=bundle))
    session = client.session
    session["invoice_ids"] = [str(order.invoice_id), str(preparing.invoice_id), "garbage"]
    session.save()
    html = client.get(MY, headers={"Accept-Language": "en"}).content.decode()
    assert order.esim.iccid in html
    assert preparing.get_absolute_url() in html and "Preparing your eSIM" in html
    assert stranger.esim.iccid not in html
    assert "Find your eSIMs" in html  # can still sign in for older purchases


def test_refunded_orders_show_as_refunded(client, bundle):
    refunded = OrderFactory(invoice=InvoiceFactory(bundle=bundle), status=Order.Status.REFUNDED)
    session = client.session
    session["invoice_ids"] = [str(refunded.invoice_id)]
    session.save()
    html = client.get(MY, headers={"Accept-Language": "en"}).content.decode()
    assert "Refunded" in html


def test_data_left_degrades_when_esimgo_is_down(client, shopper, mocked_responses, settings):
    settings.ESIMGO_MAX_RETRIES = 0  # no client back-off sleeps in this test
    customer, order = shopper
    mocked_responses.get(
        re.compile(re.escape(ESIMGO_TEST_BASE_URL) + r"/esims/\d+/bundles.*"),
        json={"message": "unavailable"},
        status=503,
    )
    session = client.session
    session["my_esims_email"] = "bat@example.mn"
    session.save()
    response = client.get(MY, headers={"Accept-Language": "en"})
    assert response.status_code == 200
    html = response.content.decode()
    assert order.esim.iccid in html
    assert "Usage unavailable right now." in html
    # While eSIM Go is known to be down, further page views do not call it again.
    calls = len(mocked_responses.calls)
    client.get(MY)
    assert len(mocked_responses.calls) == calls


def test_data_left_shows_last_known_figure_when_down(client, shopper, mocked_responses, settings):
    settings.ESIMGO_MAX_RETRIES = 0  # no client back-off sleeps in this test
    from orders import usage

    customer, order = shopper
    mocked_responses.get(
        re.compile(re.escape(ESIMGO_TEST_BASE_URL) + r"/esims/\d+/bundles.*"),
        json=esim_bundles("esim_1GB_7D_JP_V2", remaining=700_000_000),
    )
    assert usage.get_usage(order.esim.iccid).current.remaining_bytes == 700_000_000
    settings.ORDERS_USAGE_CACHE_SECONDS = 0
    from django.core.cache import cache

    cache.delete(f"orders:usage:{order.esim.iccid}")
    mocked_responses.replace(
        "GET",
        re.compile(re.escape(ESIMGO_TEST_BASE_URL) + r"/esims/\d+/bundles.*"),
        json={"message": "down"},
        status=500,
    )
    session = client.session
    session["my_esims_email"] = "bat@example.mn"
    session.save()
    html = client.get(MY, headers={"Accept-Language": "en"}).content.decode()
    assert "Usage unavailable right now." in html
    assert "Last known: 700 MB left" in html


def test_usage_is_cached(shopper, usage_ok):
    from orders import usage

    customer, order = shopper
    usage.get_usage(order.esim.iccid)
    usage.get_usage(order.esim.iccid)
    assert len([c for c in usage_ok.calls if "/bundles" in c.request.url]) == 1


def test_sign_out_forgets_email_and_purchases(client, shopper):
    session = client.session
    session["my_esims_email"] = "bat@example.mn"
    session["invoice_ids"] = ["x"]
    session.save()
    assert client.post(reverse("orders:my-esims-logout")).status_code == 302
    assert "my_esims_email" not in client.session and "invoice_ids" not in client.session


def test_consume_is_single_use_at_the_database(shopper):
    row = MagicLinkToken.objects.create(
        token_hash=magic_links._hash("tok"),
        email="bat@example.mn",
        expires_at=timezone.now() + timedelta(minutes=5),
        sent_at=timezone.now(),
    )
    assert magic_links.consume_magic_link("tok") == "bat@example.mn"
    assert magic_links.consume_magic_link("tok") is None
    row.refresh_from_db()
    assert row.used_at is not None


def test_my_esims_lists_unpaid_open_invoices_to_resume(client, db):
    """Issue 13: a lost payment tab can be resumed from My eSIMs."""
    from datetime import timedelta

    from django.utils import timezone

    from payments.models import Invoice
    from tests.payments.factories import InvoiceFactory

    open_one = InvoiceFactory()
    expired = InvoiceFactory(status=Invoice.Status.EXPIRED)
    late = InvoiceFactory(expires_at=timezone.now() - timedelta(minutes=1))
    session = client.session
    session["invoice_ids"] = [str(open_one.pk), str(expired.pk), str(late.pk)]
    session.save()
    html = client.get("/my-esims/").content.decode()
    assert f'href="/pay/{open_one.access_token}/"' in html
    assert f"/pay/{expired.access_token}/" not in html and f"/pay/{late.access_token}/" not in html

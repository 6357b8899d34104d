"""Security checks (issue 6 item 5): deploy checks, headers and CSP, no inline script/style,
CSRF everywhere but the two provider callbacks, rate limits. Logs: tests/test_security_logs.py."""

import os
import secrets
import subprocess
import sys
import types
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from payments import inbox
from payments.models import Invoice, QPayCallback
from tests.catalog.factories import BundleFactory
from tests.orders.factories import DeliveredOrderFactory
from tests.payments.factories import InvoiceFactory

ROOT = Path(__file__).resolve().parents[1]


# --- manage.py check --deploy ---------------------------------------------------------------


def production_env(tmp_path) -> dict:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    return {
        **keep,
        "DJANGO_SETTINGS_MODULE": "esimshop.settings",
        "DEBUG": "False",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "shop.example.mn",
        "CSRF_TRUSTED_ORIGINS": "https://shop.example.mn",
        "SITE_URL": "https://shop.example.mn",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
        "ESIMGO_API_KEY": "prod-like-esimgo-key-0123456789",
        "QPAY_CLIENT_ID": "SHOP_MERCHANT",
        "QPAY_CLIENT_SECRET": "prod-like-qpay-secret-0123456789",
        "QPAY_INVOICE_CODE": "SHOP_INVOICE",
        "QPAY_CALLBACK_PUBLIC_BASE_URL": "https://shop.example.mn",
        "EMAIL_URL": "smtp+tls://mailer:pw@smtp.example.mn:587",
        "LOG_LEVEL": "WARNING",
    }


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output, output


def test_production_settings_mount_no_sandbox_and_secure_cookies(tmp_path):
    script = (
        "import django; django.setup()\n"
        "from django.conf import settings as s; from django.urls import get_resolver\n"
        "routes = [str(p.pattern) for p in get_resolver().url_patterns]\n"
        "print(s.SANDBOX, any(r.startswith('sandbox') for r in routes), s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS >= 31536000, s.DEBUG)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-7:] == ["False", "False", "True", "True", "True", "True", "False"]


# --- headers, CSP, inline code --------------------------------------------------------------


class InlineCodeFinder(HTMLParser):
    """Everything a CSP without 'unsafe-inline' would block."""

    def __init__(self):
        super().__init__()
        self.problems, self._in_script = [], False

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "script":
            self._in_script = "src" not in names
        if tag == "style":
            self.problems.append("<style> element")
        if "style" in names:
            self.problems.append(f"style= on <{tag}>")
        self.problems += [f"{name}= on <{tag}>" for name in names if name.startswith("on")]
        for name in ("href", "src", "action", "formaction"):
            if (names.get(name) or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL in <{tag} {name}>")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.problems.append(f"inline <script>: {data.strip()[:60]}")


def inline_code(html: str) -> list[str]:
    finder = InlineCodeFinder()
    finder.feed(html)
    return finder.problems


def csp_directives(header: str) -> dict:
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in header.split(";")) if part}


@pytest.fixture
def pages(db, settings, client):
    """One of every kind of HTML page a shopper, QPay's sandbox or staff can open."""
    from sandbox.qpay.models import SandboxInvoice

    settings.SANDBOX_ESIMGO_RATE_LIMIT = 0
    bundle = BundleFactory(name="esim_1GB_7D_MN_V2", countries=["MN"], computed_price_mnt=12500)
    invoice = InvoiceFactory(bundle=bundle)
    sandbox_invoice = SandboxInvoice.objects.create(
        invoice_code="TEST_INVOICE",
        sender_invoice_no="S1",
        invoice_receiver_code="r",
        invoice_description="d",
        amount=12500,
        callback_url="https://shop.example.mn/cb",
        qr_text="x",
    )
    order = DeliveredOrderFactory(invoice__bundle=bundle)
    return {
        "home": "/",
        "search": "/search/?q=mongolia",
        "countries": "/countries/",
        "country": "/countries/MN/",
        "bundle": f"/bundles/{bundle.name}/",
        "checkout": reverse("payments:checkout", args=[bundle.name]),
        "pay": reverse("payments:pay", args=[invoice.access_token]),
        "esim": order.get_absolute_url(),
        "my_esims": reverse("orders:my-esims"),
        "magic_link": reverse("orders:my-esims-login", args=["not-a-token"]),
        "sandbox_bank": reverse("sandbox_qpay:bank", args=[sandbox_invoice.invoice_id]),
        "admin_login": "/admin/login/",
        "not_found": "/no-such-page/",
    }


def test_every_html_page_has_the_security_headers_and_a_strict_csp(client, pages, settings):
    settings.DEBUG = False
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code in (200, 404, 410), (name, response.status_code)
        assert response["Content-Type"].startswith("text/html"), name
        csp = csp_directives(response["Content-Security-Policy"])
        assert csp["script-src"] == ["'self'"], (name, csp)
        assert csp["style-src"] == ["'self'"], (name, csp)
        assert csp["default-src"] == ["'self'"] and csp["object-src"] == ["'none'"], name
        assert csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'none'"], name
        assert set(csp["img-src"]) == {"'self'", "data:", "https://qpay.mn", "https://s3.qpay.mn"}, name
        assert "'unsafe-inline'" not in response["Content-Security-Policy"], name
        assert "'unsafe-eval'" not in response["Content-Security-Policy"], name
        assert response["X-Content-Type-Options"] == "nosniff", name
        assert response["X-Frame-Options"] == "DENY", name
        assert response["Referrer-Policy"] == "same-origin", name
        assert 'name="referrer" content="no-referrer"' not in response.content.decode(), name
        assert response["Cross-Origin-Opener-Policy"] == "same-origin", name
        assert "camera=()" in response["Permissions-Policy"], name


def test_served_pages_carry_no_inline_script_style_or_handlers(client, pages, settings):
    settings.DEBUG = False
    for name, url in pages.items():
        html = client.get(url).content.decode()
        assert inline_code(html) == [], name
    # The checker itself finds what it must.
    assert (
        len(
            inline_code(
                '<p style="x" onclick="y()"><script>alert(1)</script><style>p{}</style><a href="javascript:x()">'
            )
        )
        == 5
    )


def test_no_template_has_inline_script_style_or_handlers():
    """Pages not rendered above (staff console, admin overrides, top-up...) are covered here.
    E-mail templates are exempt: mail clients need inline styles and no CSP applies to them."""
    checked, offenders = 0, {}
    for path in ROOT.glob("**/templates/**/*.html"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in (".venv", "staticfiles", "node_modules") or "email" in relative.parts:
            continue
        checked += 1
        problems = inline_code(path.read_text())
        if problems:
            offenders[str(relative)] = problems
    assert checked >= 20
    assert offenders == {}


def test_sandbox_bank_logos_are_served_locally(pages, client, settings):
    from sandbox.qpay import services as sandbox_qpay

    urls = sandbox_qpay.bank_urls("qr", base_url="http://testserver/")
    assert urls and all(u["logo"].startswith("http://testserver/static/sandbox_qpay/banks/") for u in urls)
    assert not any("qpay.mn" in u["logo"] for u in urls)
    from django.contrib.staticfiles import finders

    for url in urls:
        assert finders.find(url["logo"].split("/static/", 1)[1]), url["logo"]


# --- CSRF -----------------------------------------------------------------------------------


def walk(resolver, prefix=""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from walk(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def is_json_only_api(callback) -> bool:
    """DRF views are csrf_exempt by construction; with JSON as the only parser a cross-site
    form cannot reach them (application/json needs a CORS preflight we never grant)."""
    from rest_framework.parsers import JSONParser

    view_class = getattr(callback, "cls", None)
    if view_class is None:
        return False
    parsers = view_class().get_parsers()
    return bool(parsers) and all(isinstance(p, JSONParser) for p in parsers)


def test_only_the_provider_callbacks_are_csrf_exempt():
    exempt, apis, checked = set(), set(), 0
    for route, pattern in walk(get_resolver()):
        checked += 1
        callback = pattern.callback
        if not getattr(callback, "csrf_exempt", False):
            continue
        if route.startswith("sandbox/"):
            continue  # the stand-in providers' own APIs (never mounted in production)
        if route.startswith("admin/"):
            exempt.add(route)  # would be a finding: admin views must all be protected
            continue
        if is_json_only_api(callback):
            apis.add(pattern.name)
            continue
        exempt.add(f"{callback.__module__}.{callback.__name__}")
    assert checked > 30
    assert exempt == {"payments.views.qpay_callback", "orders.views.esimgo_callback", "telegram.views.webhook"}
    assert apis == {"api-purchase", "api-packages", "api-schema"}


@pytest.mark.parametrize(
    "form", ["checkout", "my_esims", "magic_link", "logout", "topup", "admin_login", "sandbox_bank"]
)
def test_every_form_refuses_a_post_without_the_csrf_token(form, pages, settings):
    order = DeliveredOrderFactory()
    urls = {
        **pages,
        "logout": reverse("orders:my-esims-logout"),
        "topup": reverse("orders:topup", args=[order.access_token]),
    }
    strict = Client(enforce_csrf_checks=True)
    before = Invoice.objects.count()
    response = strict.post(
        urls[form],
        {
            "email": "a@example.mn",
            "phone_number": "99112233",
            "amount": "12500",
            "username": "x",
            "password": "y",
            "action": "full",
            "bundle": "b",
        },
    )
    assert response.status_code == 403
    assert Invoice.objects.count() == before


def test_private_pages_forms_pass_csrf_with_the_origin_a_browser_sends(client, db, settings):
    """A no-referrer page makes browsers send `Origin: null` on its forms, which Django's CSRF check
    refuses: private pages must use same-origin (still nothing leaks to other sites)."""
    strict = Client(enforce_csrf_checks=True)
    page = strict.get(reverse("orders:my-esims"))
    assert page["Referrer-Policy"] == "same-origin"
    token = strict.cookies[settings.CSRF_COOKIE_NAME].value
    ok = strict.post(
        reverse("orders:my-esims"),
        {"email": "a@example.mn", "csrfmiddlewaretoken": token},
        HTTP_ORIGIN="http://testserver",
    )
    assert ok.status_code == 200
    refused = strict.post(
        reverse("orders:my-esims"), {"email": "a@example.mn", "csrfmiddlewaretoken": token}, HTTP_ORIGIN="null"
    )
    assert refused.status_code == 403  # what a no-referrer page would have caused


def test_purchase_api_refuses_form_encoded_bodies(client, db):
    BundleFactory(name="esim_1GB_7D_MN_V2", countries=["MN"], computed_price_mnt=12500)
    response = client.post(
        "/api/customer/transactions/purchase",
        {"phoneNumber": "99112233", "email": "a@example.mn", "amount": "12500", "packageCode": "esim_1GB_7D_MN_V2"},
    )
    assert response.status_code == 415
    assert Invoice.objects.count() == 0


# --- rate limits ----------------------------------------------------------------------------


@pytest.fixture
def frozen_window(monkeypatch):
    """All requests of a test fall in one fixed window (no flake at a minute boundary)."""
    monkeypatch.setattr("esimshop.ratelimit.time", types.SimpleNamespace(time=lambda: 1_800_000_010.0))


def test_purchase_api_is_rate_limited_per_address(client, db, settings, frozen_window):
    settings.PAYMENTS_PURCHASE_RATE_LIMIT_PER_MINUTE = 3
    url = "/api/customer/transactions/purchase"
    codes = [client.post(url, "{}", content_type="application/json").status_code for _ in range(4)]
    assert codes == [400, 400, 400, 429]
    limited = client.post(url, "{}", content_type="application/json")
    assert limited.json()["error"] and int(limited["Retry-After"]) >= 1
    assert client.post(url, "{}", content_type="application/json", REMOTE_ADDR="10.1.1.1").status_code == 400
    assert Invoice.objects.count() == 0


def test_checkout_form_shares_the_purchase_limit(client, db, settings, frozen_window):
    settings.PAYMENTS_PURCHASE_RATE_LIMIT_PER_MINUTE = 2
    bundle = BundleFactory(name="esim_1GB_7D_MN_V2", countries=["MN"], computed_price_mnt=12500)
    url = reverse("payments:checkout", args=[bundle.name])
    bad = {"phone_number": "12", "email": "nope", "amount": "12500"}
    assert client.post("/api/customer/transactions/purchase", "{}", content_type="application/json").status_code == 400
    assert client.post(url, bad).status_code == 400
    limited = client.post(url, bad)
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
    assert b'id="error-summary"' in limited.content  # the form comes back with the message (focused summary)
    assert client.get(url).status_code == 200  # looking is never limited
    assert Invoice.objects.count() == 0


def test_esim_status_json_is_rate_limited(client, db, settings, frozen_window):
    settings.ORDERS_STATUS_RATE_LIMIT_PER_MINUTE = 2
    order = DeliveredOrderFactory()
    url = reverse("orders:esim-status", args=[order.access_token])
    assert [client.get(url).status_code for _ in range(3)] == [200, 200, 429]
    assert client.get(url, REMOTE_ADDR="10.2.2.2").status_code == 200


def test_magic_link_sign_in_is_rate_limited(client, db, settings, frozen_window):
    settings.ORDERS_MAGIC_LINK_LOGIN_RATE_LIMIT_PER_MINUTE = 2
    url = reverse("orders:my-esims-login", args=["guess"])
    assert [client.get(url).status_code for _ in range(3)] == [410, 410, 429]
    assert client.post(url).status_code == 429


def test_magic_link_requests_are_rate_limited(client, db, settings):
    settings.ORDERS_MAGIC_LINK_LIMIT_PER_IP = (2, 3600)
    url = reverse("orders:my-esims")
    codes = [client.post(url, {"email": f"x{i}@example.mn"}).status_code for i in range(3)]
    assert codes == [200, 200, 429]


def callback_path(invoice, token=None):
    path = reverse("payments:qpay-callback", args=[invoice.pk])
    return f"{path}?qpay_payment_id=1&token={token or inbox.callback_token(invoice.pk)}"


@pytest.fixture
def no_verification(monkeypatch):
    """The callback's QPay check is not what these tests are about."""
    from payments.verification import NOT_PAID

    result = types.SimpleNamespace(outcome=NOT_PAID, detail="test")
    monkeypatch.setattr("payments.inbox.verify_invoice_payment", lambda *a, **k: result)


def test_callbacks_flooding_one_invoice_get_429(client, db, settings, frozen_window, no_verification):
    settings.PAYMENTS_CALLBACK_RATE_LIMIT_PER_INVOICE_PER_MINUTE = 3
    invoice, other = InvoiceFactory(), InvoiceFactory()
    codes = [client.get(callback_path(invoice)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    # Every authentic callback is in the inbox, stored before the limit is asked (issue 10); the
    # refused one is not verified (no QPay call).
    outcomes = list(QPayCallback.objects.filter(invoice=invoice).order_by("pk").values_list("outcome", flat=True))
    assert len(outcomes) == 4 and outcomes[-1] == QPayCallback.Outcome.RATE_LIMITED
    assert client.get(callback_path(other)).status_code == 200  # per invoice, not per sender


def test_wrong_token_callbacks_are_limited_per_address(client, db, settings, frozen_window, no_verification):
    settings.PAYMENTS_CALLBACK_BAD_TOKEN_RATE_LIMIT_PER_MINUTE = 2
    invoice = InvoiceFactory()
    codes = [client.get(callback_path(invoice, token="0" * 64)).status_code for _ in range(3)]
    assert codes == [404, 404, 429]
    # ...which never blocks QPay's authentic callback from the same address.
    assert client.get(callback_path(invoice)).status_code == 200
    assert QPayCallback.objects.count() == 1


def test_default_callback_limits_never_block_qpays_single_callbacks(client, db, frozen_window, no_verification):
    """QPay sends every shop's callbacks from a few addresses: 300 invoices paid within one
    minute, one callback each (plus one retry for some), all from one address, all accepted."""
    invoices = InvoiceFactory.create_batch(300)
    codes = [client.get(callback_path(invoice), REMOTE_ADDR="203.0.113.5").status_code for invoice in invoices]
    codes += [client.get(callback_path(invoice), REMOTE_ADDR="203.0.113.5").status_code for invoice in invoices[:50]]
    assert codes == [200] * 350
    # A burst of 50 concurrent deliveries for one invoice fits too.
    assert {client.get(callback_path(invoices[0])).status_code for _ in range(50)} == {200}


def test_rate_limit_defaults_are_set():
    assert django_settings.PAYMENTS_PURCHASE_RATE_LIMIT_PER_MINUTE >= 10
    assert django_settings.PAYMENTS_CALLBACK_RATE_LIMIT_PER_INVOICE_PER_MINUTE >= 100
    assert django_settings.PAYMENTS_STATUS_RATE_LIMIT_PER_MINUTE >= 20

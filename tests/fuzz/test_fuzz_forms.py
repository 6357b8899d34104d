"""Fuzzing the two shopper forms: checkout (POST /checkout/<bundle>/) and the My eSIMs magic-link
request (POST /my-esims/).

Never a 500; a refused submission writes nothing and re-renders the form (400) with each error
attached to a named field (or the form as a whole) and shown on the page; only an accepted
submission writes (an invoice, or one magic-link request row).
"""

import html
from decimal import Decimal

import pytest
import responses
from django.core.cache import cache
from hypothesis import given
from hypothesis import strategies as st

from orders.models import MagicLinkToken
from payments.forms import CheckoutForm
from tests.catalog.factories import BundleFactory
from tests.fuzz import strategies as fz
from tests.fuzz.conftest import changed_rows, row_counts, tried
from tests.payments.qpay_mocks import add_invoice_create, add_token

pytestmark = pytest.mark.django_db

NAME = "esim_1GB_7D_MN_V2"
PRICE = 12500
CHECKOUT_FIELDS = set(CheckoutForm.base_fields)


@pytest.fixture
def bundle(db, mocked_responses, settings):
    settings.PAYMENTS_PURCHASE_RATE_LIMIT_PER_MINUTE = 10**6
    add_token(mocked_responses)
    add_invoice_create(mocked_responses)
    mocked_responses.add(
        responses.POST,
        "https://api.esim-go.com/v2.4/orders",
        json={
            "order": [{"type": "bundle", "item": NAME, "quantity": 1, "subTotal": 1.53, "pricePerUnit": 1.53}],
            "total": 1.53,
            "valid": True,
            "currency": "USD",
            "createdDate": "2026-11-23T10:00:00Z",
            "assigned": False,
        },
    )
    return BundleFactory(name=NAME, countries=["MN"], price=Decimal("1.53"), computed_price_mnt=PRICE)


form_values = st.one_of(fz.any_text, st.lists(fz.short_text, min_size=2, max_size=3))
checkout_data = st.builds(
    lambda good, junk: {**junk, **good},
    st.fixed_dictionaries(
        {},
        optional={
            "phone_number": st.one_of(st.sampled_from(["99112233", "+976 9911-2233", "9911 223"]), form_values),
            "email": st.one_of(fz.valid_email(), form_values),
            "company_register": st.one_of(st.sampled_from(["", "1234567", "AB12345"]), form_values),
            "amount": st.one_of(st.sampled_from([str(PRICE), "1", "0", "-5", "12500.0", "9" * 30]), form_values),
            "device_confirmed": st.one_of(st.just("on"), form_values),
        },
    ),
    st.dictionaries(fz.short_text, form_values, max_size=2),
)


def _shown(message: str, content: str) -> bool:
    return html.escape(message, quote=True) in content or html.escape(message, quote=False) in content


@given(data=checkout_data, path=st.one_of(st.just(NAME), fz.any_text))
def test_checkout_form(bundle, client, data, path):
    tried("checkout form")
    cache.clear()
    before = row_counts()
    response = client.post(f"/checkout/{fz.path_segment(path)}/", data=data)
    delta = changed_rows(before, row_counts())
    if path != NAME:
        assert response.status_code == 404 and delta == {}
        return
    assert response.status_code in (200, 302, 400), response.status_code
    if response.status_code == 302:
        assert response["Location"].startswith("/pay/")
        return
    assert delta == {}, (data, delta)
    form = response.context["form"]
    assert form.errors, "a refused checkout shows why"
    assert set(form.errors) <= CHECKOUT_FIELDS | {"__all__"}, form.errors
    content = response.content.decode()
    for messages in form.errors.values():
        for message in messages:
            assert _shown(message, content), message


@given(
    email=st.one_of(fz.valid_email(), fz.any_text, st.lists(fz.short_text, min_size=2, max_size=3), st.none()),
    extra=st.dictionaries(fz.short_text, form_values, max_size=2),
)
def test_magic_link_request_form(db, client, email, extra):
    tried("magic-link request form")
    cache.clear()
    data = {**extra}
    if email is not None:
        data["email"] = email
    before = row_counts()
    response = client.post("/my-esims/", data=data)
    delta = changed_rows(before, row_counts())
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 200:
        assert response.context["link_sent"]
        assert delta == {"orders.MagicLinkToken": 1}, delta
        assert MagicLinkToken.objects.latest("created_at").email == str(data["email"]).strip().lower()
        return
    assert delta == {}, delta
    form = response.context["form"]
    assert set(form.errors) == {"email"}, form.errors
    content = response.content.decode()
    assert all(_shown(message, content) for message in form.errors["email"])

"""The provider clients' answers are parsed once, tolerant of the shapes recorded in
docs/providers/ (esimgo.md, qpay.md), into frozen dataclasses callers read by attribute."""

import dataclasses
from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from integrations.esimgo.client import ESIMGoMalformedResponse
from integrations.esimgo.parsing import parse_esim, parse_order, parse_order_list, parse_revoke
from integrations.qpay.answers import IssuedEbarimt, PaymentRow
from integrations.qpay.client import QPayMalformedResponse


def test_answers_are_frozen():
    order = parse_order({"orderReference": "ref-1"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        order.reference = "other"


def test_a_purchase_answer_with_odd_fields_keeps_its_reference():
    # A 2xx purchase must never be lost over one field: only the reference decides what happened.
    order = parse_order(
        {
            "orderReference": "ref-1",
            "status": "completed",
            "total": "about four dollars",
            "createdDate": "yesterday",
            "order": "not a list",
        }
    )
    assert order.reference == "ref-1" and not order.refused
    assert (order.total, order.created_at, order.lines) == (None, None, ())


def test_a_purchase_answer_that_is_not_an_object_may_have_bought():
    with pytest.raises(ESIMGoMalformedResponse) as excinfo:
        parse_order(["ref-1"], outcome_unknown=True)
    assert excinfo.value.outcome_unknown is True


@pytest.mark.parametrize(
    "answer, refused",
    [
        ({"valid": False}, True),
        ({"valid": "false"}, True),
        ({"status": "Failed", "orderReference": "ref-1"}, True),
        ({"valid": True, "total": 1.36}, False),
        ({"status": "completed"}, False),
    ],
)
def test_refused_orders(answer, refused):
    assert parse_order(answer).refused is refused


def test_order_esims_and_iccids_from_lines():
    order = parse_order(
        {
            "orderReference": 12345,  # numbers read as text
            "createdDate": "2026-01-15T03:04:05.123456789Z",
            "order": [
                {
                    "type": "bundle",
                    "item": "esim_1GB_7D_MN_V2",
                    "iccids": [8944000000000000001],
                    "esims": [
                        {"iccid": "8944000000000000001", "matchingId": "M-1", "smdpAddress": "rsp.example"},
                        {"iccid": "8944000000000000002", "matchingId": "", "smdpAddress": "rsp.example"},
                    ],
                }
            ],
        }
    )
    assert order.reference == "12345"
    assert order.created_at == datetime(2026, 1, 15, 3, 4, 5, 123456, tzinfo=timezone.utc)
    assert order.iccids == {"8944000000000000001", "8944000000000000002"}
    assert [e.iccid for e in order.esims] == ["8944000000000000001"]  # only complete install details


def test_order_list_leaves_out_entries_that_are_not_objects_but_counts_them():
    listing = parse_order_list({"orders": [{"orderReference": "a"}, "garbage"], "pageCount": "2", "rows": 3})
    assert [o.reference for o in listing.orders] == ["a"]
    assert (listing.received, listing.page_count, listing.rows) == (2, 2, 3)


@pytest.mark.parametrize(
    "answer, offer_id",
    [
        ({"status": "ok", "offerId": "top"}, "top"),
        ({"status": "ok", "options": [{"type": "inventory"}, {"type": "balance", "offerId": "nested"}]}, "nested"),
        ({"status": "ok"}, ""),
    ],
)
def test_revoke_validate_answer_offer_id(answer, offer_id):
    assert parse_revoke(answer).offer_id == offer_id


@pytest.mark.parametrize(
    "profile, installed",
    [
        ({"iccid": "1", "profileStatus": "Released"}, False),
        ({"iccid": "1", "profileStatus": ""}, False),
        ({"iccid": "1", "profileStatus": "Installed"}, True),
        ({"iccid": "1", "profileStatus": "Released", "firstInstalledDateTime": 1767225600000}, True),
    ],
)
def test_esim_ever_installed(profile, installed):
    assert parse_esim(profile).ever_installed is installed


def test_qpay_payment_date_without_offset_is_ulaanbaatar_time():
    row = PaymentRow.from_wire({"payment_id": "1", "payment_amount": "100.00", "payment_date": "2026-01-15 23:59:00"})
    assert row.paid_at == datetime(2026, 1, 15, 23, 59, tzinfo=ZoneInfo("Asia/Ulaanbaatar"))
    assert PaymentRow.from_wire({"payment_id": "1", "payment_date": "garbage"}).paid_at is None


def test_qpay_non_finite_amount_is_malformed():
    with pytest.raises(QPayMalformedResponse):
        PaymentRow.from_wire({"payment_id": "1", "payment_amount": "NaN"})


def test_issued_ebarimt_keeps_the_receipt_whatever_its_amount_echo():
    issued = IssuedEbarimt.from_wire(
        {
            "id": 7,
            "ebarimt_lottery": "HV 83198235",
            "amount": "20000.00",
            "vat_amount": "n/a",
            "barimt_status": "registered",
        }
    )
    assert (issued.id, issued.lottery, issued.amount, issued.vat_amount) == (
        "7",
        "HV 83198235",
        Decimal("20000.00"),
        None,
    )
    assert issued.status == "REGISTERED" and issued.raw["id"] == 7
    with pytest.raises(QPayMalformedResponse):
        IssuedEbarimt.from_wire([])

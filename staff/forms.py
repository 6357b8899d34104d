"""Forms behind the staff action pages (refund, manual delivery)."""

import uuid

from django import forms
from django.utils.translation import gettext_lazy as _


class RefundForm(forms.Form):
    METHOD_CHOICES = [
        ("QPAY_API", _("Card payment: refund it through QPay now (the whole payment)")),
        ("MANUAL", _("Already returned by hand in QPay's merchant portal: record it")),
    ]

    payment = forms.ChoiceField(label=_("Payment"))
    method = forms.ChoiceField(label=_("How"), choices=METHOD_CHOICES, widget=forms.RadioSelect)
    amount_mnt = forms.IntegerField(label=_("Amount (₮)"), min_value=1)
    note = forms.CharField(
        label=_("Note"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required for a manual refund: where and how the money was returned."),
    )
    # A double-submitted form carries the same key: the refund service returns the first refund.
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, payments=(), refundable=0, **kwargs):
        super().__init__(*args, **kwargs)
        self.payments = {str(p.pk): p for p in payments}
        self.fields["payment"].choices = [
            (
                str(p.pk),
                f"{p.qpay_payment_id} · {int(p.amount):,}₮ · "
                f"{_('card') if (p.payment_type or '').upper() == 'CARD' else _('bank app (P2P)')} · {p.status}",
            )
            for p in payments
        ]
        if not self.is_bound:
            first = next(iter(payments), None)
            card = first is not None and (first.payment_type or "").upper() == "CARD"
            self.initial.setdefault("idempotency_key", uuid.uuid4())
            self.initial.setdefault("method", "QPAY_API" if card else "MANUAL")
            self.initial.setdefault("amount_mnt", int(first.amount) if card and first else refundable or None)

    def clean(self):
        data = super().clean()
        payment = self.payments.get(data.get("payment") or "")
        if payment is not None and data.get("method") == "QPAY_API" and (payment.payment_type or "").upper() != "CARD":
            self.add_error(
                "method",
                _(
                    "QPay cannot refund a bank-app (P2P) payment through its API. Return the money "
                    "in QPay's merchant portal, then choose the second option."
                ),
            )
        if data.get("method") == "MANUAL" and not (data.get("note") or "").strip():
            self.add_error("note", _("Say where and how the money was returned."))
        return data


class DeliverForm(forms.Form):
    iccid = forms.CharField(label="ICCID", max_length=32)
    matching_id = forms.CharField(label=_("Matching ID (activation code)"), max_length=128)
    smdp_address = forms.CharField(label=_("SM-DP+ address"), max_length=255)
    esimgo_order_reference = forms.CharField(label=_("eSIM Go order reference"), max_length=64, required=False)
    note = forms.CharField(label=_("Note"), max_length=500, required=False)

from django import forms
from django.utils.translation import gettext_lazy as _

from payments.api import normalise_phone


class CheckoutForm(forms.Form):
    phone_number = forms.CharField(
        label=_("Phone number"),
        max_length=32,
        help_text=_("8 digits. We send nothing to it; it identifies your purchase."),
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel", "placeholder": "99112233"}),
    )
    email = forms.EmailField(
        label=_("E-mail"),
        max_length=254,
        help_text=_("Your eSIM and receipt are sent here."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    company_register = forms.CharField(
        label=_("Company register number (optional)"),
        max_length=16,
        required=False,
        help_text=_("Only if the e-barimt receipt should go to a company."),
    )
    # Before paying (issue 13): an eSIM on a phone that cannot take one is money lost for the shopper.
    device_confirmed = forms.BooleanField(
        label=_("My phone takes an eSIM and is not locked to an operator."),
        required=True,
        error_messages={"required": _("Please check that your phone takes an eSIM, then tick this box.")},
    )
    # The price the shopper saw: if it changed before they submitted, they must see the new one.
    amount = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def clean_phone_number(self):
        phone = normalise_phone(self.cleaned_data["phone_number"])
        if not phone.isdigit() or len(phone) != 8:
            raise forms.ValidationError(_("Enter a Mongolian phone number of 8 digits."))
        return phone

    def clean_company_register(self):
        value = self.cleaned_data["company_register"].strip()
        if value and not value.isalnum():
            raise forms.ValidationError(_("Use letters and digits only."))
        return value

    def mark_invalid_fields(self) -> None:
        """aria-invalid and the error text's id on every field with an error (WCAG 3.3.1)."""
        for name, field in self.fields.items():
            if name in self.errors and not field.widget.is_hidden:
                described = f"id_{name}-error" + (f" id_{name}-help" if field.help_text else "")
                field.widget.attrs.update({"aria-invalid": "true", "aria-describedby": described})
            elif field.help_text:
                field.widget.attrs["aria-describedby"] = f"id_{name}-help"

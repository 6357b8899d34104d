from django import forms
from django.utils.translation import gettext_lazy as _


class MyEsimsEmailForm(forms.Form):
    email = forms.EmailField(
        label=_("E-mail address you used at checkout"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email", "required": True}),
    )


class TopupForm(forms.Form):
    """Choose one of the compatible bundles (by eSIM Go name); anything else is refused."""

    bundle = forms.ChoiceField(label=_("Package"), widget=forms.RadioSelect)

    def __init__(self, *args, bundles=(), **kwargs):
        super().__init__(*args, **kwargs)
        self._bundles = {bundle.name: bundle for bundle in bundles}
        self.fields["bundle"].choices = [(name, name) for name in self._bundles]
        self.fields["bundle"].error_messages["invalid_choice"] = _(
            "This package cannot be added to your eSIM. Please choose one from the list."
        )

    def clean_bundle(self):
        return self._bundles[self.cleaned_data["bundle"]]

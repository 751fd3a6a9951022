"""Form fields the admin and the management API's filters share."""

from django import forms

from devices.macs import InvalidMac, normalize_mac


class MacField(forms.CharField):
    """A MAC in any spelling the rest of the service takes (devices.macs), cleaned to its canonical form."""

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return value
        try:
            return normalize_mac(value)
        except InvalidMac as exc:
            raise forms.ValidationError(str(exc)) from exc

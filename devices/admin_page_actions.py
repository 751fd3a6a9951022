"""Lifecycle buttons on a device's admin page, through the same services as every protocol.

Reserve, unreserve and unban run from their button; ban (with its reason), deactivate and activating for an
account (billing's activation rules: the account must be usable, the device available, or reserved when the
reserve check is skipped) first show a confirmation page. Each needs the device's change permission; a refusal is
the service's own message.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from devices import services
from devices.choices import EventSource
from devices.errors import DomainError
from devices.models import Device


def staff_actor(request) -> services.Actor:
    """The operator behind an admin request, as the audit trail names them."""
    return services.Actor(source=EventSource.ADMIN, name=request.user.get_username())


class BanForm(forms.Form):
    reason = forms.CharField(max_length=255, help_text="Kept with the ban and in the audit trail.")

    def clean_reason(self):
        try:
            return services.ban_reason_clean(self.cleaned_data["reason"])
        except DomainError as error:
            raise forms.ValidationError(error.message) from error


class ActivateForm(forms.Form):
    account = forms.CharField(label="Account login", max_length=254, strip=True)
    skip_reserve_check = forms.BooleanField(
        required=False,
        label="Also when the device is reserved",
        help_text="Billing's skip_reserve_check: without it a reserved device is refused.",
    )


class ConfirmForm(forms.Form):
    """Deactivation asks nothing but a yes."""


def _reserve(device: Device, actor: services.Actor) -> str:
    services.device_reserve(device=device.pk, actor=actor)
    return "Reserved."


def _unreserve(device: Device, actor: services.Actor) -> str:
    services.device_unreserve(device=device.pk, actor=actor)
    return "Available again."


def _activate(device: Device, actor: services.Actor, *, account: str, skip_reserve_check: bool) -> str:
    activated = services.device_activate(
        device=device.pk, account=account, actor=actor, skip_reserve_check=skip_reserve_check
    )
    return f"Activated for {activated.account.login}."


def _deactivate(device: Device, actor: services.Actor) -> str:
    services.device_deactivate(device=device.pk, actor=actor)
    return "Deactivation started."


def _ban(device: Device, actor: services.Actor, *, reason: str) -> str:
    return "Banned." if services.device_ban(device=device.pk, reason=reason, actor=actor) else "Banned already."


def _unban(device: Device, actor: services.Actor) -> str:
    return "Ban lifted." if services.device_unban(device=device.pk, actor=actor) else "Not banned."


@dataclass(frozen=True)
class PageAction:
    name: str
    label: str
    offered_to: Callable[[], QuerySet]  # the devices it applies to: the transition's own rule
    run: Callable[..., str]  # (device, actor, **the form's data) -> what happened
    form: type[forms.Form] | None = None  # a confirmation page first when set
    question: str = ""


PAGE_ACTIONS = {
    action.name: action
    for action in (
        PageAction("reserve", "Reserve", services.RESERVE.applies_to, _reserve),
        PageAction("unreserve", "Unreserve", services.UNRESERVE.applies_to, _unreserve),
        PageAction(
            "activate",
            "Activate for an account…",
            lambda: Device.objects.activatable(skip_reserve_check=True),  # the account is chosen next
            _activate,
            form=ActivateForm,
            question="Activate this device for an account, as the billing API would?",
        ),
        PageAction(
            "deactivate",
            "Deactivate…",
            services.DEACTIVATE.applies_to,
            _deactivate,
            form=ConfirmForm,
            question="Deactivate this device? It leaves its account when the deactivation ends.",
        ),
        PageAction(
            "ban",
            "Ban…",
            services.BAN.applies_to,
            _ban,
            form=BanForm,
            question="Ban this device? Every protocol refuses it until the ban is lifted.",
        ),
        PageAction("unban", "Unban", services.UNBAN.applies_to, _unban),
    )
}


def offered(device: Device) -> list[PageAction]:
    """The actions whose transition applies to the device, in one query."""
    applies = {name: Exists(action.offered_to().filter(pk=OuterRef("pk"))) for name, action in PAGE_ACTIONS.items()}
    flags = Device.objects.filter(pk=device.pk).values(**applies).first() or {}
    return [action for name, action in PAGE_ACTIONS.items() if flags.get(name)]


class DevicePageActionsMixin:
    """For DeviceAdmin: the buttons (change_form template) and the view behind them."""

    def get_urls(self):
        action_url = path(
            "<path:object_id>/do/<slug:action>/",
            self.admin_site.admin_view(self.page_action_view),
            name="devices_device_page_action",
        )
        return [action_url, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        device = self.get_object(request, unquote(object_id))
        actions = []
        if device is not None and self.has_change_permission(request, device):
            # A transient state whose time has come ends first, as any transition would end it: the page shows
            # the device as the next request would find it.
            services.device_settle(device=device, actor=staff_actor(request))
            actions = offered(device)
        context = {"page_actions": actions, **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context=context)

    def page_action_view(self, request, object_id, action):
        page_action = PAGE_ACTIONS.get(action)
        device = self.get_object(request, unquote(object_id))
        if page_action is None or device is None:
            raise Http404("No such device or action.")
        if not self.has_change_permission(request, device):
            raise PermissionDenied
        if page_action.form is None and request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        form = page_action.form(request.POST if request.method == "POST" else None) if page_action.form else None
        if request.method == "POST" and (form is None or form.is_valid()):
            actor = staff_actor(request)
            try:
                done = page_action.run(device, actor, **(form.cleaned_data if form else {}))
            except DomainError as error:
                self.message_user(request, f"{page_action.label.rstrip('…')}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, done, messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:devices_device_change", args=[device.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "device": device,
            "action": page_action,
            "form": form,
            "title": page_action.question,
        }
        return TemplateResponse(request, "admin/devices/device/page_action.html", context)

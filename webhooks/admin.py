from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from webhooks.models import Webhook, WebhookDelivery
from webhooks.services import deliveries_redeliver, webhook_update


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    """Integrators subscribe through the management API (which shows the secret once); operators pause or look."""

    list_display = ("url", "event_list", "is_active", "created_by", "created_at", "deliveries_link")
    list_filter = ("is_active",)
    search_fields = ("url", "description")
    fields = ("url", "events", "is_active", "description", "created_by", "created_at", "updated_at")
    readonly_fields = ("url", "events", "created_by", "created_at", "updated_at")

    @admin.display(description="events")
    def event_list(self, obj):
        return ", ".join(obj.events)

    @admin.display(description="deliveries")
    def deliveries_link(self, obj):
        url = reverse("admin:webhooks_webhookdelivery_changelist") + f"?webhook__id__exact={obj.pk}"
        return format_html('<a href="{}">Deliveries</a>', url)

    def has_add_permission(self, request):
        return False  # its secret is shown once, to whoever subscribes: that is the management API's answer

    def has_delete_permission(self, request, obj=None):
        return False  # operators pause a webhook; its integrator unsubscribes it

    def save_model(self, request, obj, form, change):
        webhook_update(webhook=obj, **{name: form.cleaned_data[name] for name in form.changed_data})


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "webhook",
        "event_type",
        "device_link",
        "status",
        "attempts",
        "response_status",
        "next_attempt_at",
        "delivered_at",
    )
    list_filter = ("status", "webhook")
    list_select_related = ("webhook", "event")
    search_fields = ("=id", "=event__device__uuid")
    search_help_text = "A delivery's id, or a device's uuid."
    readonly_fields = [field.name for field in WebhookDelivery._meta.fields]
    actions = ("redeliver_selected",)
    show_full_result_count = False

    @admin.display(description="event")
    def event_type(self, obj):
        return f"device.{obj.event.action}"

    @admin.display(description="device")
    def device_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:devices_device_change", args=[obj.device_id]), obj.device_id
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # a delivery is a record of what was sent

    @admin.action(description="Redeliver selected deliveries (a day of retries anew)", permissions=["change"])
    def redeliver_selected(self, request, queryset):
        selected = queryset.count()
        count = deliveries_redeliver(deliveries=queryset)
        message = f"{count} delivery(ies) will be delivered again."
        if skipped := selected - count:
            message += f" {skipped} of a paused webhook will not: resume it first."
        self.message_user(request, message, messages.SUCCESS)

from rest_framework.routers import SimpleRouter

from manage_api.api import views

router = SimpleRouter()
router.trailing_slash = "/?"  # with or without it, as integrators type it (SimpleRouter's init takes only a bool)
router.register("devices", views.DeviceViewSet, basename="manage-device")
router.register("events", views.DeviceEventViewSet, basename="manage-event")
router.register("accounts", views.AccountViewSet, basename="manage-account")
router.register("licenses", views.LicenseViewSet, basename="manage-license")
router.register("webhooks", views.WebhookViewSet, basename="manage-webhook")

urlpatterns = router.urls

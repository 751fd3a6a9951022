from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.negotiation import DefaultContentNegotiation

from config import views


class FormatParameterNegotiation(DefaultContentNegotiation):
    """`/api/schema/?format=json`: the schema's JSON form, as the README links it (the APIs ignore `format`)."""

    class settings:  # stands in for DRF's api_settings, which has the parameter off
        URL_FORMAT_OVERRIDE = "format"


class SchemaView(SpectacularAPIView):
    content_negotiation_class = FormatParameterNegotiation


urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/manage/", include("manage_api.api.urls")),
    path("api/", include("devices.api.urls")),
    path("api/v1/billing/devices/", include("billing.api.urls")),
    path("api/v2/", include("licensing.api.urls")),
    path("billing/api/", include("mor_api.api.urls")),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    # Unknown API paths answer in their protocol's format, in development too (not Django's debug page).
    re_path(r"^api/(?!docs$|schema$)", views.not_found),
    re_path(r"^billing/api/", views.mor_unknown_call),
]

handler404 = "config.views.not_found"
handler500 = "config.views.server_error"

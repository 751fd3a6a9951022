from django.urls import path

from mor_api.api import views

urlpatterns = [
    path("device_create", views.DeviceCreateView.as_view(), name="mor-device-create"),
    path("devices_get", views.DevicesGetView.as_view(), name="mor-devices-get"),
    path("device_list", views.DeviceListView.as_view(), name="mor-device-list"),  # devices_get's old name
    path("device_details_get", views.DeviceDetailsGetView.as_view(), name="mor-device-details-get"),
    path("device_update", views.DeviceUpdateView.as_view(), name="mor-device-update"),
    path("device_delete", views.DeviceDeleteView.as_view(), name="mor-device-delete"),
    path("device_destroy", views.DeviceDestroyView.as_view(), name="mor-device-destroy"),  # device_delete's old name
]

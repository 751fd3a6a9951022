from django.urls import path

from devices.api.views import ConfigsView, DeviceActivityView, DeviceCheckView, DeviceRegisterView

urlpatterns = [
    path("base/configs", ConfigsView.as_view(), name="registry-configs"),
    path("v2/device", DeviceRegisterView.as_view(), name="registry-device"),
    path("v2/device_check", DeviceCheckView.as_view(), name="registry-device-check"),
    path("v2/device_activity", DeviceActivityView.as_view(), name="registry-device-activity"),
]

from django.urls import path

from devices.api.views import ConfigsView, DeviceRegisterView

urlpatterns = [
    path("base/configs", ConfigsView.as_view(), name="registry-configs"),
    path("v2/device", DeviceRegisterView.as_view(), name="registry-device"),
]

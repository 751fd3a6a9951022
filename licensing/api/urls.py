from django.urls import path

from licensing.api import views

urlpatterns = [
    path("auth/login", views.LoginView.as_view(), name="licensing-login"),
    path("device/license", views.DeviceLicenseView.as_view(), name="licensing-device-license"),
    path("device/license/activate", views.ActivateView.as_view(), name="licensing-activate"),
    path("device/license/validate", views.ValidateView.as_view(), name="licensing-validate"),
]

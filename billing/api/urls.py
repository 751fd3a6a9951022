from django.urls import path

from billing.api import views

urlpatterns = [
    path("check", views.CheckView.as_view(), name="billing-check"),
    path("reserve", views.ReserveView.as_view(), name="billing-reserve"),
    path("unreserve", views.UnreserveView.as_view(), name="billing-unreserve"),
    path("activate", views.ActivateView.as_view(), name="billing-activate"),
    path("deactivate", views.DeactivateView.as_view(), name="billing-deactivate"),
]

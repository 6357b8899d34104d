from django.urls import include, path

from esimshop import views

urlpatterns = [
    path("healthz", views.healthz),  # the outage suite waits on it before driving
    path("esimgo/v2.4/", include("sandbox.esimgo.urls")),
    path("qpay/", include("sandbox.qpay.urls")),
]

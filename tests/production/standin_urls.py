from django.urls import include, path

urlpatterns = [
    path("esimgo/v2.4/", include("sandbox.esimgo.urls")),
    path("qpay/", include("sandbox.qpay.urls")),
]

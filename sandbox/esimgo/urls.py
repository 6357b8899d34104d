"""Mounted at /sandbox/esimgo/v2.4/ (sandbox/urls.py); paths as in the eSIM Go v2.4 spec."""

from django.urls import path, re_path

from sandbox.esimgo import views

app_name = "sandbox_esimgo"

urlpatterns = [
    path("catalogue", views.catalogue, name="catalogue"),
    path("catalogue/bundle/<str:name>", views.catalogue_bundle, name="catalogue_bundle"),
    path("orders", views.orders, name="orders"),
    path("orders/<str:reference>", views.order_detail, name="order_detail"),
    path("esims", views.esims, name="esims"),
    path("esims/assignments", views.assignments, name="assignments"),
    path("esims/<str:iccid>", views.esim_detail, name="esim_detail"),
    path("esims/<str:iccid>/bundles", views.esim_bundles, name="esim_bundles"),
    path("esims/<str:iccid>/bundles/<str:name>", views.esim_bundle, name="esim_bundle"),
    path("esims/<str:iccid>/compatible/<str:bundle>", views.compatible, name="compatible"),
    path("organisation", views.organisation, name="organisation"),
    re_path(r"^(?P<path>.*)$", views.unknown),  # the live API answers 403 "access denied" to unknown paths
]

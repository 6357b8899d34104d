"""Mounted at /sandbox/qpay/ (sandbox/urls.py): QPAY_BASE_URL = SITE_URL/sandbox/qpay in sandbox mode."""

from django.urls import path, re_path

from sandbox.qpay import views

app_name = "sandbox_qpay"

urlpatterns = [
    path("v2/auth/token", views.auth_token, name="auth_token"),
    path("v2/auth/refresh", views.auth_refresh, name="auth_refresh"),
    path("v2/invoice", views.invoice_create, name="invoice_create"),
    path("v2/invoice/<str:invoice_id>", views.invoice_detail, name="invoice_detail"),
    path("v2/payment/check", views.payment_check, name="payment_check"),
    path("v2/payment/list", views.payment_list, name="payment_list"),
    path("v2/payment/cancel/<str:payment_id>", views.payment_cancel, name="payment_cancel"),
    path("v2/payment/refund/<str:payment_id>", views.payment_refund, name="payment_refund"),
    path("v2/payment/<str:payment_id>", views.payment_detail, name="payment_detail"),
    path("v2/ebarimt_v3/create", views.ebarimt_create, name="ebarimt_create"),
    path("v2/ebarimt_v3/<str:payment_id>", views.ebarimt_cancel, name="ebarimt_cancel"),
    path("pay/<str:invoice_id>/", views.bank, name="bank"),
    re_path(r"^(?P<path>v2/.*)$", views.unknown),
]

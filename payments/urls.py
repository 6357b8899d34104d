from django.urls import path

from payments import api, views

app_name = "payments"

urlpatterns = [
    path("api/customer/transactions/purchase", api.PurchaseApi.as_view(), name="api-purchase"),
    path("api/customer/transactions/<uuid:invoice_id>/status", api.invoice_status, name="api-status"),
    path("checkout/<str:bundle_name>/", views.checkout, name="checkout"),
    path("pay/<str:token>/", views.pay, name="pay"),
    path("payments/qpay/callback/<uuid:invoice_id>/", views.qpay_callback, name="qpay-callback"),
]

from django.urls import path

from orders import views

app_name = "orders"

urlpatterns = [
    path("esims/<str:token>/", views.esim_detail, name="esim-detail"),
    path("esims/<str:token>/status.json", views.esim_status, name="esim-status"),
    path("esims/<str:token>/topup/", views.topup_view, name="topup"),
    path("esims/<str:token>/install-sheet.png", views.install_sheet, name="install-sheet"),
    path("my-esims/", views.my_esims, name="my-esims"),
    path("my-esims/login/<str:token>/", views.my_esims_login, name="my-esims-login"),
    path("my-esims/logout/", views.my_esims_logout, name="my-esims-logout"),
    path("esimgo/callback/", views.esimgo_callback, name="esimgo-callback"),
]

from django.urls import path

from shopinfo import views

app_name = "shopinfo"

urlpatterns = [
    path("help/", views.index, name="index"),
    path("help/<slug:slug>/", views.page, name="page"),
]

from django.urls import path

from catalog import api, views

app_name = "catalog"

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("countries/", views.countries, name="countries"),
    path("countries/<str:iso>/", views.country, name="country"),
    path("regions/<slug:slug>/", views.region, name="region"),
    path("bundles/<str:name>/", views.bundle_detail, name="bundle"),
    path("lang/<str:code>/", views.switch_language, name="language"),
    path("api/packages/", api.PackageListApi.as_view(), name="api-packages"),
]

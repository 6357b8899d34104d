from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from esimshop import views
from ops import views as ops_views

handler404 = "esimshop.views.page_not_found"
handler500 = "esimshop.views.server_error"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", ops_views.readyz, name="readyz"),
    path("metrics", ops_views.prometheus_metrics, name="metrics"),
    path("favicon.ico", views.favicon),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("telegram/", include("telegram.urls")),
    path("", include("payments.urls")),
    path("", include("orders.urls")),
    path("", include("shopinfo.urls")),
    path("", include("catalog.urls")),
]

if settings.SANDBOX:
    # Never mounted when real provider credentials are configured.
    urlpatterns.insert(0, path("sandbox/", include("sandbox.urls")))

"""JSON catalogue API: GET /api/packages/?country=MN.

Answers are cached like the storefront pages (catalog/page_cache.py), keyed by the language the
request resolved to (cookie, else Accept-Language for the API) and the known query parameters.
"""

from django.utils.cache import patch_vary_headers
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import page_cache, presentation, selectors
from catalog.serializers import PackageQuerySerializer, PackageSerializer
from esimshop.api_errors import ApiErrorSerializer, error_body

QUERY_PARAMS = tuple(PackageQuerySerializer().fields)


def package_item(bundle, coverage: list[selectors.Coverage]) -> dict:
    label = presentation.coverage_label([(c.iso, c.region) for c in coverage]) if coverage else bundle.name
    data_amount_mb = -1 if bundle.unlimited else bundle.data_amount_mb
    return {
        "packageCode": bundle.name,
        "name": presentation.plan_name(label, bundle.data_amount_mb, bundle.unlimited, bundle.duration_days),
        "amount": bundle.retail_price_mnt,
        "currency": "MNT",
        "dataAmountMb": data_amount_mb,
        "durationDays": bundle.duration_days,
        "unlimited": bundle.unlimited,
        "speed": [str(s) for s in bundle.speed] if isinstance(bundle.speed, list) else [],
        "autostart": bundle.autostart,
        "pricePerGbMnt": presentation.price_per_gb_mnt(
            bundle.retail_price_mnt, bundle.data_amount_mb, bundle.unlimited
        ),
        "countries": sorted(c.iso for c in coverage),
    }


# On dispatch, so what is stored is DRF's finished (rendered) response.
@method_decorator(page_cache.storefront_page(params=QUERY_PARAMS), name="dispatch")
class PackageListApi(APIView):
    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # The API's language may come from Accept-Language (esimshop.middleware), so caches must key on it.
        patch_vary_headers(response, ("Accept-Language",))
        return response

    @extend_schema(
        operation_id="packages_list",
        summary="Sellable eSIM packages for a destination",
        description=(
            "Every available plan that works in the country, including regional and global plans that "
            "cover it through roaming. Same set as the country page. Prices are integer MNT."
        ),
        parameters=[PackageQuerySerializer],
        responses={
            200: PackageSerializer(many=True),
            400: OpenApiResponse(
                ApiErrorSerializer,
                description="Invalid parameters: `errors` has per-field lists of messages.",
                examples=[
                    OpenApiExample(
                        "missing country",
                        value={
                            "code": "invalid",
                            "error": "This field is required.",
                            "errors": {"country": ["This field is required."]},
                        },
                    )
                ],
            ),
            404: OpenApiResponse(ApiErrorSerializer, description="Unknown country, or no plans sold for it."),
        },
    )
    def get(self, request):
        query = PackageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        country = selectors.get_country(query.validated_data["country"])
        if country is None or not selectors.country_is_sold(country):
            return Response(error_body("not_found", _("No eSIM plans are sold for this country.")), status=404)
        bundles = list(selectors.available_bundles_for_country(country, query.to_filters()))
        coverage = selectors.coverage_for_bundles([b.pk for b in bundles])
        # package_item already builds the documented shape with JSON types; PackageSerializer
        # describes it for the schema (and test_api pins the two together) without a second pass.
        return Response([package_item(bundle, coverage[bundle.pk]) for bundle in bundles])

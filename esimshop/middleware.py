from django.conf import settings
from django.http import Http404
from django.utils import translation
from django.utils.cache import patch_vary_headers


class ShopLocaleMiddleware:
    """Mongolian first: the language is the shopper's saved choice (the switcher's cookie) or,
    without one, LANGUAGE_CODE. Browser Accept-Language is deliberately ignored: many phones
    in Mongolia are set to English, but the shop speaks Mongolian until asked otherwise.
    The JSON API is the exception: a client asking for English by Accept-Language gets it."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.supported = {code for code, _ in settings.LANGUAGES}

    def __call__(self, request):
        # ?lang=en names a page's English version at its own URL (the hreflang alternates of
        # esimshop.context_processors); it does not change the saved choice.
        chosen = request.GET.get("lang") or request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        if chosen not in self.supported and request.path.startswith("/api/"):
            chosen = translation.get_language_from_request(request)
        language = chosen if chosen in self.supported else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        patch_vary_headers(response, ("Cookie",))
        return response


class RejectNulPathMiddleware:
    """No URL of the shop contains a NUL character, and PostgreSQL refuses one even in a lookup:
    /checkout/a%00b/ or /bundles/a%00b/ would reach `Bundle.objects.get(name=...)` and fail with a
    500. Such a path is simply not found, before any view or database sees it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path_info:
            raise Http404("no such page")
        return self.get_response(request)

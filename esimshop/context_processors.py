from urllib.parse import urlencode

from django.conf import settings
from django.utils.translation import get_language

LANGUAGE_PARAM = "lang"  # ?lang=en: the English version of a page at its own URL (hreflang)


def shop(request):
    return {
        "SANDBOX": settings.SANDBOX,
        "SANDBOX_PUBLIC_DEMO": settings.SANDBOX and settings.SANDBOX_PUBLIC_DEMO,
        **_seo_urls(request),
    }


def _seo_urls(request) -> dict:
    """Absolute canonical URL of this page in the current language, and one per language."""
    path = getattr(request, "storefront_path", None) or request.path
    base = f"{settings.SITE_URL.rstrip('/')}{path}"
    joiner = "&" if "?" in base else "?"
    alternates = {
        code: base if code == settings.LANGUAGE_CODE else f"{base}{joiner}{urlencode({LANGUAGE_PARAM: code})}"
        for code, _name in settings.LANGUAGES
    }
    return {
        "canonical_url": alternates.get(get_language(), base),
        "alternate_urls": alternates,
        "default_url": alternates[settings.LANGUAGE_CODE],
    }

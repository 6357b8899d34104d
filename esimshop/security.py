"""Response headers that Django's SecurityMiddleware does not set: Content-Security-Policy and
Permissions-Policy.

Django 5.2 has no CSP support of its own and the policy is one fixed string (no nonces: every
script and style is a static file), so a few lines here beat a dependency. The policy lives in
settings.CONTENT_SECURITY_POLICY ({directive: [sources]}).
"""

from django.conf import settings


def build_policy(directives: dict) -> str:
    return "; ".join(f"{name} {' '.join(sources)}".strip() for name, sources in directives.items())


class SecurityHeadersMiddleware:
    """Adds CSP and Permissions-Policy to every response that doesn't set its own.

    With DEBUG on, Django's technical 404/500 pages (inline styles and scripts) are left alone.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = build_policy(settings.CONTENT_SECURITY_POLICY)
        self.permissions_policy = settings.PERMISSIONS_POLICY

    def __call__(self, request):
        response = self.get_response(request)
        if settings.DEBUG and response.status_code in (404, 500):
            return response
        response.headers.setdefault("Content-Security-Policy", self.policy)
        response.headers.setdefault("Permissions-Policy", self.permissions_policy)
        return response

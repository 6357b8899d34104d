from django.conf import settings


def shop(request):
    return {"SANDBOX": settings.SANDBOX, "SANDBOX_PUBLIC_DEMO": settings.SANDBOX and settings.SANDBOX_PUBLIC_DEMO}

"""Admin login protection glue for django-axes."""


def client_ip_for_axes(request) -> str:
    """The same client-address rule as the shop's rate limits: behind the production proxy the
    real address is the last X-Forwarded-For entry, otherwise REMOTE_ADDR (a client can forge
    X-Forwarded-For when nothing strips it, so it is trusted only behind the proxy)."""
    from payments.ratelimit import client_ip

    return client_ip(request)

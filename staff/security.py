"""Admin login protection glue for django-axes."""
import ipaddress


def client_ip_for_axes(request) -> str | None:
    """The same client-address rule as the shop's rate limits: behind the production proxy the
    real address is the last X-Forwarded-For entry, otherwise REMOTE_ADDR (a client can forge
    X-Forwarded-For when nothing strips it, so it is trusted only behind the proxy).

    Axes stores the address in a GenericIPAddressField, so anything that is not an IP address
    (a request built by `Client.force_login` has none) becomes None rather than a database error.
    """
    from payments.ratelimit import client_ip

    if request is None or not hasattr(request, "META"):
        return None
    candidate = client_ip(request)
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None

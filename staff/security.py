"""Admin login protection glue for django-axes."""

from esimshop.client_address import client_ip_or_none


def client_ip_for_axes(request) -> str | None:
    """The site's one client-address rule (esimshop/client_address.py, TRUSTED_PROXY_COUNT).

    Axes stores the address in a GenericIPAddressField, so anything that is not an IP address
    (a request built by `Client.force_login` has none) becomes None rather than a database error.
    """
    return client_ip_or_none(request)

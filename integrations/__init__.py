"""HTTP clients for the shop's providers (QPay, eSIM Go).

The bottom layer: they know HTTP and the providers' wire formats, never the shop's models, and
share one error base (integrations.errors). Everything above imports them, they import nothing
of the shop's apps.
"""

"""QPay merchant API v2 client (integrations.qpay.client)."""

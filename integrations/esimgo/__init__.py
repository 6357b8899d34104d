"""eSIM Go API v2.4 client (integrations.esimgo.client)."""

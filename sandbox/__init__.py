"""Built-in sandbox providers (eSIM Go and QPay) that speak the real wire format over real
HTTP. Mounted under /sandbox/ only when no real provider credentials are configured."""

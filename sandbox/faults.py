"""Fault injection shared by both sandboxes: a dict in the Django cache maps an endpoint to a
fault spec, consumed one request at a time. Each sandbox documents its own endpoint names.

Consumption is a cache read-modify-write: exact within one process, approximate when several
processes race on the same fault, which chaos tests don't rely on.
"""

from django.core.cache import cache


class FaultSwitchboard:
    def __init__(self, cache_key: str):
        self.cache_key = cache_key

    def inject(self, endpoint: str, **spec) -> None:
        faults = cache.get(self.cache_key) or {}
        faults[endpoint] = spec
        cache.set(self.cache_key, faults, None)

    def clear(self) -> None:
        cache.delete(self.cache_key)

    def take(self, method: str, endpoint: str) -> dict | None:
        """Consume one use of the fault configured for this request, if any."""
        faults = cache.get(self.cache_key)
        if not faults:
            return None
        for key in (f"{method} {endpoint}", endpoint, "*"):
            spec = faults.get(key)
            if spec is None:
                continue
            count = int(spec.get("count", 1))
            if count <= 1:
                del faults[key]
            else:
                faults[key] = {**spec, "count": count - 1}
            cache.set(self.cache_key, faults, None)
            return spec
        return None

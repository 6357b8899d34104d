"""A Redis cache whose clear() removes only its own keys, for parallel test workers.

Django's RedisCache.clear() is FLUSHDB: with pytest-xdist, one worker's cache.clear() (every test
does one, tests/conftest.py) would wipe the others' tokens, locks and rate-limit windows mid-test.
Each worker gets its own KEY_PREFIX (esimshop/settings_test.py) and clears only that prefix.
"""

from django.core.cache.backends.redis import RedisCache


class PrefixClearingRedisCache(RedisCache):
    def clear(self):
        client = self._cache.get_client(write=True)
        pattern = self.make_key("*")
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)
        return True

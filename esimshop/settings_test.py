"""Settings for the test suite (pytest.ini): production settings plus what only tests want.

Everything else comes from esimshop.settings and the environment, exactly as in production,
so the tests exercise the real configuration (CI sets DATABASE_URL/REDIS_URL).
"""

import os

from esimshop.settings import *  # noqa: F403 - the test settings are the real ones plus overrides

# Hashing a password the production way (PBKDF2, ~1M iterations) costs ~0.3 s of CPU per login
# or create_user; the staff tests do hundreds. MD5 is unsafe for real passwords, fine for tests
# (tests/staff went from 165 s to the figure in the commit message on the same machine).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# pytest-xdist workers share one Redis db (REDIS_URL): give each worker its own key prefix and a
# clear() that removes only that prefix (tests/cache.py), so parallel tests cannot see or wipe
# each other's cache. Tests that start real processes on Redis run in one xdist group (pytest.ini).
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _XDIST_WORKER and REDIS_URL:  # noqa: F405
    CACHES["default"]["BACKEND"] = "tests.cache.PrefixClearingRedisCache"  # noqa: F405
    CACHES["default"]["KEY_PREFIX"] = f"{CACHES['default']['KEY_PREFIX']}-{_XDIST_WORKER}"  # noqa: F405

"""The environment reader, and the few settings every other part depends on."""

import os
from pathlib import Path

import environ

from esimshop.production_checks import env_example_names

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
# `NAME=` (as .env.example writes an unset setting) means "use the default", not an empty value:
# django-environ would otherwise read "" as the value (an empty SECRET_KEY, a False boolean).
for _name in [name for name, value in os.environ.items() if value == "" and name in env_example_names(BASE_DIR)]:
    del os.environ[_name]

DEBUG = env.bool("DEBUG", default=False)

# The shop's own public base URL (used for links in e-mails and, by default, QPay callbacks).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

# Celery broker + cache; unset = tasks in-process and a local-memory cache.
REDIS_URL = env.str("REDIS_URL", default="")

# SANDBOX is an explicit opt-in (bin/run and the tests set it): the shop then talks to its own
# sandbox providers over real HTTP, with credentials derived from SECRET_KEY for this
# installation. A provider pointed at the sandbox is always given the sandbox's credentials, so a
# real key never reaches the sandbox (and the sandbox only ever compares its own keys).
SANDBOX = env.bool("SANDBOX", default=False)

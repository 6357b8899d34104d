"""Loaded with `-p tests.sandbox_env` (pytest.ini) before pytest-django reads the settings: the
suite runs on the development defaults that bin/run sets too (DEBUG and the built-in sandbox),
since production's defaults (both off) refuse to start without real credentials. A variable the
caller set wins; tests of production settings start their own processes with their own env."""

import os

os.environ.setdefault("DEBUG", "True")
os.environ.setdefault("SANDBOX", "True")

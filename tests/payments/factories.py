"""Old import path for the payments tests' factories: the one set lives in tests/factories.py."""

from tests.factories import CustomerFactory, InvoiceFactory  # noqa: F401 - re-exported for existing imports

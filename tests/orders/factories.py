"""Old import path for the orders tests' factories: the one set lives in tests/factories.py.
Here InvoiceFactory is the PAID invoice orders starts from (tests.factories.PaidInvoiceFactory)."""

from tests.factories import (  # noqa: F401 - re-exported for existing imports
    BundleFactory,
    CustomerFactory,
    DeliveredOrderFactory,
    ESimFactory,
    OrderFactory,
)
from tests.factories import PaidInvoiceFactory as InvoiceFactory  # noqa: F401

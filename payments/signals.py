"""What payments announces to the apps above it (telegram listens), so payments never imports them.

`purchase_started`: a shopper's checkout (or top-up) produced `invoice` in `request`; sent
after the invoice exists, outside any transaction. kwargs: request, invoice.
"""
from django.dispatch import Signal

purchase_started = Signal()

"""Staff search that stays fast with a million orders.

Django admin's own search ORs every search field into one WHERE across all the joins
(customer, eSIM, invoice, payments, attempts): PostgreSQL cannot use an index for such an OR
across tables, so each search scans the tables - 2-5 s at 100,000 orders, growing with them.

Here the term is first recognised by its shape (a phone number, part of one, an e-mail, an
ICCID or QPay payment id, a UUID, an invoice number), and each field it can be is looked up on
its own, by its own index (btree for exact ids and whole e-mail addresses, trigram GIN for partial
phone and e-mail; migrations payments/0004, payments/0008 and orders/0005); the primary keys found are then the result. Each
lookup is bounded, so a term matching half the shop costs no more than a page of results.
"""

import re
import uuid

from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q
from django.utils.functional import cached_property

# Enough for any real search; more would not fit on a results page anyway.
MAX_PER_LOOKUP = 500

DIGITS = re.compile(r"^\d+$")
PHONE_PREFIX = re.compile(r"^(?:\+?976)(\d{8})$")
MIN_PARTIAL = 3  # trigram indexes need three characters


def term_shape(term: str) -> dict:
    """What a search term may be: phone, partial_phone, long_number, email, uuid - or, when it is
    none of those, text (as typed) and upper_text (invoice numbers are stored upper-case)."""
    compact = re.sub(r"[\s\-()]", "", term)
    prefixed = PHONE_PREFIX.match(compact)
    if prefixed:
        compact = prefixed.group(1)
    shapes = {}
    if DIGITS.match(compact):
        if len(compact) == 8:
            shapes["phone"] = compact
        if MIN_PARTIAL <= len(compact) < 8:
            shapes["partial_phone"] = compact
        if len(compact) >= 9:
            shapes["long_number"] = compact  # ICCID (18-20 digits), QPay payment id (15 digits)
    elif "@" in term:
        shapes["email"] = term
    try:
        shapes["uuid"] = str(uuid.UUID(term))
    except ValueError:
        pass
    if not shapes:  # an invoice number, a provider reference, part of an e-mail...
        shapes["text"] = term
        shapes["upper_text"] = term.upper()
    return shapes


class IndexedSearchMixin:
    """A ModelAdmin mixin: `search_lookups` maps a term shape to the ORM lookups tried for it.

    e.g. {"phone": ["customer__phone_number"], "email": ["customer__email__icontains"]}.
    Shapes: see term_shape().
    `search_fields` stays set so the admin shows its search box and help text."""

    search_lookups: dict = {}

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        shapes = term_shape(term)
        found = set()
        manager = self.model._default_manager

        def matching(lookup, value):
            # No ORDER BY: with the model's -created_at ordering and a LIMIT, PostgreSQL may walk
            # the created_at index hoping to meet the rare match early, instead of using the
            # lookup's own index.
            return list(manager.filter(Q(**{lookup: value})).order_by().values_list("pk", flat=True)[:MAX_PER_LOOKUP])

        for shape, value in shapes.items():
            for lookup in self.search_lookups.get(shape, ()):
                if shape == "email" and lookup.endswith("__icontains"):
                    # A whole address: the exact (case-insensitive) match first, by the btree on
                    # UPPER(email) (payments/0008). Its trigrams ("exa", "mpl", ".mn", ...) are shared
                    # by much of the shop, so the trigram index has to visit most customers
                    # (~200 ms at 1M); part of an address still finds its contains matches.
                    exact = matching(lookup.removesuffix("__icontains") + "__iexact", value)
                    found.update(exact or matching(lookup, value))
                    continue
                found.update(matching(lookup, value))
        return queryset.filter(pk__in=found), False


class EstimatedCountPaginator(Paginator):
    """The admin's paginator, but an unfiltered list of a big table is counted from PostgreSQL's
    statistics (pg_class.reltuples, kept by autovacuum/ANALYZE) instead of COUNT(*), which reads
    the whole table: ~50 ms per page view at a million rows and growing. Filtered lists and small
    tables (under ESTIMATE_ABOVE rows) are counted exactly, so nothing staff act on is estimated."""

    ESTIMATE_ABOVE = 100_000

    @cached_property
    def count(self):
        query = getattr(self.object_list, "query", None)
        if query is not None and not query.where and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [self.object_list.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] >= self.ESTIMATE_ABOVE:
                return int(row[0])
        return super().count


class ScaleSafeAdminMixin(IndexedSearchMixin):
    """For admins of tables that grow with sales (orders, invoices, customers): indexed search,
    estimated count of the unfiltered list, and no "N total" second count of the whole table."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False

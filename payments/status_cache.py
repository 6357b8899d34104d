"""The public payment status of an invoice in the shared cache (Redis in production).

A shopper waiting on the payment page polls the status endpoint every few seconds; a thousand
waiting shoppers would otherwise be a few hundred PostgreSQL reads a second that almost always
say "still PENDING". The answer is kept in the cache and thrown away on every state change.

Invalidation without a race: each invoice has a generation counter in the cache. A reader notes
the generation BEFORE it reads the database and stores its answer tagged with that generation;
a writer bumps the generation AFTER its transaction commits (`invalidate()` uses on_commit). An
answer read before a commit therefore carries the old generation and is never served again,
even if it is stored after the bump. Readers fetch the counter and the answer in one round trip.

Every change of what `public_status` reports goes through one of two helpers, and both call
`invalidate()`: `payments.services._transition` (invoice states, paid amount, QPay invoice
stored) and `orders.models.Order.apply_transition` (delivered / needs attention / refunded).

A cache fault never breaks the page: the status is then read from the database as before.
"""

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from django.utils.crypto import constant_time_compare

logger = logging.getLogger(__name__)

GENERATION_KEY = "payments:status-gen:{}"
ENTRY_KEY = "payments:status:v2:{}"  # v2: snapshots carry check_count and token_digest
# Bounds only what invalidation cannot see (an eviction, a write by hand in psql): a pending
# invoice lives 30 minutes, so an entry outliving its facts by a minute at most is acceptable.
ENTRY_SECONDS = 60
GENERATION_SECONDS = 3600


@dataclass(frozen=True)
class StatusSnapshot:
    """What the status endpoint needs of an invoice: the public answer and what decides
    whether to ask QPay (payments.api.request_check) - no model instance, no query."""

    pk: object
    public: dict
    is_payable: bool
    expires_at: datetime
    created_at: datetime
    check_count: int
    # sha256 of the invoice's access token: the cache never holds the capability itself.
    token_digest: str

    def token_matches(self, token: str) -> bool:
        return bool(token) and constant_time_compare(self.token_digest, token_digest(token))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_epoch() -> int:
    # Far above any count of bumps in an earlier epoch, so a re-created counter never repeats one.
    return time.time_ns() // 1000


def get(invoice_id) -> tuple[StatusSnapshot | None, int | None]:
    """(the cached snapshot or None, the generation to store a fresh one under)."""
    gen_key, entry_key = GENERATION_KEY.format(invoice_id), ENTRY_KEY.format(invoice_id)
    try:
        found = cache.get_many([gen_key, entry_key])
        generation = found.get(gen_key)
        if generation is None:
            cache.add(gen_key, _new_epoch(), GENERATION_SECONDS)
            return None, cache.get(gen_key)
    except Exception as exc:  # noqa: BLE001 - a cache outage falls back to the database
        logger.warning("status cache unavailable (%s); reading the database", exc.__class__.__name__)
        return None, None
    entry = found.get(entry_key)
    if entry is not None and entry[0] == generation:
        return entry[1], generation
    return None, generation


def put(snapshot: StatusSnapshot, generation: int | None) -> None:
    """Store a snapshot read AFTER `generation` was fetched (see the module docstring)."""
    if generation is None:
        return
    try:
        cache.set(ENTRY_KEY.format(snapshot.pk), (generation, snapshot), ENTRY_SECONDS)
    except Exception as exc:  # noqa: BLE001
        logger.warning("status cache not written (%s)", exc.__class__.__name__)


def invalidate(invoice_id) -> None:
    """Forget the cached status once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: _bump(invoice_id), robust=True)


def _bump(invoice_id) -> None:
    try:
        cache.incr(GENERATION_KEY.format(invoice_id))
    except ValueError:
        pass  # no counter: no reader holds a generation of it, and the next one starts a new epoch
    except Exception as exc:  # noqa: BLE001
        # Without the bump an entry may be served until it expires (ENTRY_SECONDS); say so.
        logger.error("status cache not invalidated for invoice %s (%s)", invoice_id, exc.__class__.__name__)

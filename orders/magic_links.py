""" "My eSIMs" sign-in by e-mail: one-time, expiring links, rate-limited, no account enumeration.

* The request only records (e-mail, IP) and queues a task: the response and its timing are the
  same whether or not the address bought anything.
* The task creates the random token, stores only its SHA-256 and e-mails the link — and only
  when the address has orders (no mail to strangers' inboxes). The raw token never crosses the
  broker and is never logged.
* Using a link is one conditional UPDATE (unused and unexpired → used): single use is decided by
  the database even when two clicks race.
"""

import hashlib
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from orders import conf, tasks
from orders.emails import EmailSendError
from orders.models import MagicLinkToken, Order

logger = logging.getLogger(__name__)


class RateLimited(Exception):
    pass


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _hit(key: str, limit: int, window: int) -> bool:
    """Count one request in a fixed window; True if still within the limit (atomic in Redis)."""
    bucket = int(timezone.now().timestamp()) // window
    cache_key = f"orders:magic-link:{key}:{bucket}"
    cache.add(cache_key, 0, window + 5)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # evicted between add and incr
        cache.set(cache_key, 1, window + 5)
        count = 1
    return count <= limit


def request_magic_link(email: str, *, ip: str | None, language: str = "") -> None:
    """Record a sign-in request and queue the e-mail. Raises RateLimited (same for every address)."""
    email = normalise_email(email)
    per_ip, ip_window = conf.magic_link_limit_per_ip()
    per_email, email_window = conf.magic_link_limit_per_email()
    email_key = hashlib.sha256(email.encode()).hexdigest()[:32]  # no addresses in cache keys
    if not _hit(f"ip:{ip or 'unknown'}", per_ip, ip_window) or not _hit(f"email:{email_key}", per_email, email_window):
        raise RateLimited()
    with transaction.atomic():
        row = MagicLinkToken.objects.create(
            token_hash=_hash(secrets.token_urlsafe(32)),  # placeholder; nobody knows this token
            email=email,
            expires_at=timezone.now() + timedelta(minutes=conf.magic_link_ttl_minutes()),
            request_ip=ip,
        )
        transaction.on_commit(
            lambda: tasks.send_magic_link_task.delay(row.pk, language or settings.LANGUAGE_CODE), robust=True
        )


def send_magic_link(token_id, language=None) -> bool:
    """Create the link and e-mail it (once per request row). Returns True if an e-mail was sent."""
    now = timezone.now()
    # Claim the row (one sender, on any database), then decide.
    if not MagicLinkToken.objects.filter(
        pk=token_id, sent_at__isnull=True, used_at__isnull=True, expires_at__gt=now
    ).update(sent_at=now):
        return False
    row = MagicLinkToken.objects.get(pk=token_id)
    if not Order.objects.filter(customer__email__iexact=row.email).exists():
        MagicLinkToken.objects.filter(pk=token_id).update(skipped=True)
        return False
    token = secrets.token_urlsafe(32)
    MagicLinkToken.objects.filter(pk=token_id).update(token_hash=_hash(token))
    with translation.override(language or settings.LANGUAGE_CODE):
        context = {
            "link": f"{conf.site_url()}{reverse('orders:my-esims-login', args=[token])}",
            "minutes": conf.magic_link_ttl_minutes(),
            "my_esims_url": f"{conf.site_url()}{reverse('orders:my-esims')}",
        }
        subject = _("Your link to My eSIMs")
        text = render_to_string("orders/email/magic_link.txt", context)
        html = render_to_string("orders/email/magic_link.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [row.email])
    message.attach_alternative(html, "text/html")
    try:
        message.send(fail_silently=False)
    except Exception as exc:  # noqa: BLE001 - release the claim; the task retries with a fresh token
        MagicLinkToken.objects.filter(pk=token_id).update(sent_at=None)
        raise EmailSendError(f"{type(exc).__name__}: {exc}") from exc
    return True


def peek_magic_link(token: str) -> bool:
    """Is this token currently usable? (for the confirmation page; does not use it)"""
    return MagicLinkToken.objects.filter(
        token_hash=_hash(token), used_at__isnull=True, sent_at__isnull=False, expires_at__gt=timezone.now()
    ).exists()


def consume_magic_link(token: str) -> str | None:
    """Use the token once. Returns the verified e-mail, or None (unknown, used or expired)."""
    now = timezone.now()
    token_hash = _hash(token)
    with transaction.atomic():
        used = MagicLinkToken.objects.filter(
            token_hash=token_hash, used_at__isnull=True, sent_at__isnull=False, expires_at__gt=now
        ).update(used_at=now)
        if used != 1:
            return None
        return MagicLinkToken.objects.get(token_hash=token_hash).email

"""The audit log: one StaffAction row per thing a staff member did (or tried to do)."""

from __future__ import annotations

import json
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder

from staff.models import StaffAction


def actor_name(user) -> str:
    """The `actor` string other apps' histories use for a staff member."""
    return f"staff:{user.get_username()}" if user is not None else "system"


def _jsonable(details: dict) -> dict:
    # Decimals, dates and UUIDs become strings; the log never fails on a value's type.
    return json.loads(json.dumps(details, cls=DjangoJSONEncoder, default=str))


def record_staff_action(
    user, action: str, obj=None, *, outcome: str = StaffAction.Outcome.DONE, message: str = "", **details
) -> StaffAction:
    """Write one audit row. Call it inside the action's transaction so both commit or neither."""
    username = user.get_username() if user is not None else "system"
    return StaffAction.objects.create(
        user=user if getattr(user, "pk", None) else None,
        username=username[:150],
        action=action[:64],
        content_type=ContentType.objects.get_for_model(obj) if obj is not None else None,
        object_id=str(obj.pk)[:64] if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        outcome=outcome,
        message=str(message)[:500],
        details=_jsonable({k: (str(v) if isinstance(v, Decimal) else v) for k, v in details.items()}),
    )


def actions_for(obj):
    """The audit rows about one object, newest first."""
    return StaffAction.objects.filter(
        content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk)
    ).select_related("user")

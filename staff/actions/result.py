"""What a staff action returns (outcome + message for the admin's flash) and records (audit row)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import PermissionDenied

from staff.audit import record_staff_action
from staff.models import StaffAction

Outcome = StaffAction.Outcome


@dataclass(frozen=True)
class ActionResult:
    outcome: str
    message: str

    @property
    def level(self) -> int:
        return {
            Outcome.DONE: messages.SUCCESS,
            Outcome.NOTHING_TO_DO: messages.INFO,
            Outcome.REFUSED: messages.WARNING,
        }.get(self.outcome, messages.ERROR)


def require_permission(user, permission: str) -> None:
    if user is None or not user.is_active or not user.has_perm(permission):
        raise PermissionDenied(f"{permission} required")


def recorded(user, action, obj, outcome, message, **details) -> ActionResult:
    """The action's result, after writing its audit row (every outcome is audited, refusals too)."""
    record_staff_action(user, action, obj, outcome=outcome, message=message, **details)
    return ActionResult(outcome, message)

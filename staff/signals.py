"""Staff sign-ins and sign-outs go into the audit log (failed attempts are django-axes' job)."""

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from staff.audit import record_staff_action
from staff.security import client_ip_for_axes


@receiver(user_logged_in, dispatch_uid="staff.audit.login")
def record_login(sender, request, user, **kwargs):
    if not getattr(user, "is_staff", False):
        return
    record_staff_action(user, "auth.login", user, ip=_ip(request))


@receiver(user_logged_out, dispatch_uid="staff.audit.logout")
def record_logout(sender, request, user, **kwargs):
    if user is None or not getattr(user, "is_staff", False):
        return
    record_staff_action(user, "auth.logout", user, ip=_ip(request))


def _ip(request):
    if request is None:
        return ""
    return client_ip_for_axes(request)

"""Admin for the staff console: audit log, reconciliation runs (run, view, CSV) and mismatches;
the payments and orders admins are staff/admin_payments.py and staff/admin_orders.py."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

# The payments and orders admins live here, above both apps: they are staff tools and use the
# staff console's actions, panels and audit (importing them registers their models).
from staff import admin_orders, admin_payments, services  # noqa: F401
from staff.admin_base import ReadOnlyAdmin
from staff.exports import reconciliation_csv
from staff.models import ReconciliationMismatch, ReconciliationRun, StaffAction
from staff.reconciliation import local_day


@admin.register(StaffAction)
class StaffActionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "username", "action", "object_link", "outcome", "message")
    list_filter = ("outcome", "action", "created_at")
    search_fields = ("username", "action", "object_id", "object_repr", "message", "details")
    date_hierarchy = "created_at"
    list_select_related = ("content_type",)
    fields = (
        "created_at",
        "user",
        "username",
        "action",
        "content_type",
        "object_id",
        "object_repr",
        "outcome",
        "message",
        "details",
    )
    readonly_fields = fields

    @admin.display(description=gettext_lazy("object"))
    def object_link(self, obj):
        if obj.content_type_id and obj.object_id:
            try:
                url = reverse(
                    f"admin:{obj.content_type.app_label}_{obj.content_type.model}_change", args=[obj.object_id]
                )
            except Exception:  # noqa: BLE001 - a model without admin: show the text only
                return obj.object_repr
            return format_html('<a href="{}">{}</a>', url, obj.object_repr)
        return obj.object_repr


class RunForm(forms.Form):
    first = forms.DateField(label=gettext_lazy("First day"), widget=forms.DateInput(attrs={"type": "date"}))
    last = forms.DateField(
        label=gettext_lazy("Last day (inclusive)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        data = super().clean()
        first, last = data.get("first"), data.get("last")
        if first and last and last < first:
            self.add_error("last", _("The last day is before the first."))
        if first and first > local_day(timezone.now()):
            self.add_error("first", _("That day has not happened yet."))
        return data


class ResolveForm(forms.Form):
    note = forms.CharField(
        label=gettext_lazy("How was it resolved?"), max_length=500, widget=forms.Textarea(attrs={"rows": 3})
    )


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = (
        "__str__",
        "started_at",
        "actor",
        "qpay_payment_count",
        "esimgo_order_count",
        "mismatch_count",
        "csv_link",
    )
    list_filter = ("status",)
    date_hierarchy = "started_at"

    def has_add_permission(self, request, obj=None):
        return request.user.has_perm("staff.add_reconciliationrun")

    def get_urls(self):
        custom = [
            path("run/", self.admin_site.admin_view(self.run_view), name="staff_reconciliationrun_run"),
            path("<int:pk>/csv/", self.admin_site.admin_view(self.csv_view), name="staff_reconciliationrun_csv"),
        ]
        return custom + super().get_urls()

    def add_view(self, request, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:staff_reconciliationrun_run"))

    @admin.display(description="CSV")
    def csv_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:staff_reconciliationrun_csv", args=[obj.pk]), _("download")
        )

    def run_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = RunForm(request.POST or None, initial={"first": services.yesterday()})
        if request.method == "POST" and form.is_valid():
            first, last = form.cleaned_data["first"], form.cleaned_data.get("last") or form.cleaned_data["first"]
            try:
                run = services.run_reconciliation(
                    first, last, actor=f"staff:{request.user.get_username()}", user=request.user
                )
            except services.ReconciliationError as exc:
                messages.error(request, str(exc))
            else:
                level = messages.SUCCESS if run.status == ReconciliationRun.Status.COMPLETE else messages.WARNING
                messages.add_message(
                    request,
                    level,
                    _("Reconciliation %(run)s: %(count)s mismatches.") % {"run": run, "count": run.mismatch_count},
                )
                return HttpResponseRedirect(reverse("admin:staff_reconciliationrun_change", args=[run.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Run reconciliation"),
            "form": form,
        }
        return TemplateResponse(request, "staff/admin/run_form.html", context)

    def csv_view(self, request, pk):
        if not request.user.has_perm("staff.export_reconciliation"):
            raise PermissionDenied
        run = get_object_or_404(ReconciliationRun, pk=pk)
        response = HttpResponse(reconciliation_csv(run), content_type="text/csv; charset=utf-8")
        name = f"reconciliation-{run.period_start}" + (
            f"-to-{run.period_end}" if run.period_end != run.period_start else ""
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = get_object_or_404(ReconciliationRun, pk=object_id)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        mismatches = list(
            run.mismatches.select_related("invoice", "order").order_by("resolved_at", "day", "kind", "id")
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Reconciliation %(run)s") % {"run": run},
            "run": run,
            "days": [row for row in run.days if row.get("day") != "TOTAL"],
            "total": next((row for row in run.days if row.get("day") == "TOTAL"), None),
            "mismatches": [(m, *m.fix_link()) for m in mismatches],
            "can_export": request.user.has_perm("staff.export_reconciliation"),
            "can_resolve": request.user.has_perm("staff.change_reconciliationmismatch"),
            "can_run": self.has_add_permission(request),
        }
        return TemplateResponse(request, "staff/admin/run_detail.html", context)


class OpenFilter(admin.SimpleListFilter):
    title = gettext_lazy("state")
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("1", _("open")), ("0", _("resolved"))]

    def queryset(self, request, queryset):
        if self.value() == "1":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "0":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(ReconciliationMismatch)
class ReconciliationMismatchAdmin(ReadOnlyAdmin):
    list_display = ("day", "kind", "detail", "fix", "state", "last_seen_at")
    list_filter = (OpenFilter, "kind", "day")
    search_fields = ("detail", "qpay_payment_id", "qpay_invoice_id", "esimgo_order_reference", "fingerprint")
    date_hierarchy = "day"
    fields = (
        "kind",
        "day",
        "detail",
        "invoice",
        "order",
        "qpay_payment_id",
        "qpay_invoice_id",
        "esimgo_order_reference",
        "expected_amount",
        "actual_amount",
        "currency",
        "first_seen_at",
        "last_seen_at",
        "resolved_at",
        "resolved_by",
        "resolution_note",
        "fingerprint",
    )
    readonly_fields = fields

    def get_urls(self):
        return [
            path(
                "<int:pk>/resolve/",
                self.admin_site.admin_view(self.resolve_view),
                name="staff_reconciliationmismatch_resolve",
            ),
        ] + super().get_urls()

    @admin.display(description=gettext_lazy("fix"))
    def fix(self, obj):
        label, url = obj.fix_link()
        return format_html('<a href="{}">{}</a>', url, label)

    @admin.display(description=gettext_lazy("state"))
    def state(self, obj):
        if obj.resolved_at:
            return _("resolved by %(who)s") % {"who": obj.resolved_by}
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:staff_reconciliationmismatch_resolve", args=[obj.pk]),
            _("mark resolved…"),
        )

    def resolve_view(self, request, pk):
        if not request.user.has_perm("staff.change_reconciliationmismatch"):
            raise PermissionDenied
        mismatch = get_object_or_404(ReconciliationMismatch, pk=pk)
        form = ResolveForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            services.resolve_mismatch(mismatch.pk, user=request.user, note=form.cleaned_data["note"])
            messages.success(request, _("Marked resolved."))
            return HttpResponseRedirect(reverse("admin:staff_reconciliationmismatch_changelist") + "?open=1")
        label, url = mismatch.fix_link()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Resolve mismatch"),
            "mismatch": mismatch,
            "fix_label": label,
            "fix_url": url,
            "form": form,
        }
        return TemplateResponse(request, "staff/admin/resolve_form.html", context)

"""{% staff_console %}: the "needs attention" queue, then sales at a glance (admin index)."""

from django import template
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from staff import charts, selectors

register = template.Library()


@register.filter
def mnt(value):
    """12,500₮ (the shop's price format, whatever the admin's language)."""
    try:
        return f"{int(value):,}₮"
    except (TypeError, ValueError):
        return ""


@register.inclusion_tag("staff/console.html", takes_context=True)
def staff_console(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_active or not user.is_staff:
        return {"show": False}
    summary = selectors.sales_summary()
    orders_chart = charts.vertical_bars(
        [
            (
                p.day.isoformat(),
                date_format(p.day, "j") if n % 5 == 0 or n == len(summary.days) - 1 else "",
                p.orders,
                f"{date_format(p.day, 'Y-m-d')}: {p.orders}",
            )
            for n, p in enumerate(summary.days)
        ],
        height=140,
    )
    revenue_chart = charts.vertical_bars(
        [
            (
                p.day.isoformat(),
                date_format(p.day, "j") if n % 5 == 0 or n == len(summary.days) - 1 else "",
                p.revenue_mnt,
                f"{date_format(p.day, 'Y-m-d')}: {p.revenue_mnt:,}₮",
            )
            for n, p in enumerate(summary.days)
        ]
    )
    countries_chart = charts.horizontal_bars(
        [
            (
                c.code or "multi",
                c.name,
                c.orders,
                _("%(orders)s orders, %(revenue)s") % {"orders": c.orders, "revenue": f"{c.revenue_mnt:,}₮"},
            )
            for c in summary.countries
        ]
    )
    return {
        "show": True,
        "queue": selectors.needs_attention(),
        "summary": summary,
        "orders_chart": orders_chart,
        "revenue_chart": revenue_chart,
        "countries_chart": countries_chart,
        "balance": selectors.esimgo_balance(),
        "can_run_reconciliation": user.has_perm("staff.add_reconciliationrun"),
    }

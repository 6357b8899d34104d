"""The sandbox eSIM Go API (v2.4 wire format, docs/providers/esimgo.md), as strict as the real one:
X-API-Key required (403 {"message":"access denied"}), {"message": ...} error bodies, 400 on
bad bodies/parameters, X-Ratelimit-* headers and a 10 req/s per-IP fixed window (429 with
Retry-After; SANDBOX_ESIMGO_RATE_LIMIT changes it, 0 turns enforcement off). Unknown paths
answer 403 "access denied" like the live API. Fault injection: see faults.py.
"""

import csv
import fnmatch
import io
import json
import time
import uuid
from datetime import datetime
from functools import wraps

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from catalog.lpa import android_install_url, apple_install_url, build_lpa
from esimshop import ratelimit
from sandbox.esimgo import faults, services, usage
from sandbox.esimgo.catalogue import detail, get_catalogue
from sandbox.esimgo.models import Organisation, SandboxEsim, SandboxOrder
from sandbox.esimgo.services import ApiError, money, rfc3339

CATALOGUE_REGIONS = {
    "Africa",
    "Antarctica",
    "Asia",
    "Europe",
    "Global",
    "Middle East",
    "North America",
    "Oceania",
    "LATAM",
}
CATALOGUE_ORDER_BY = {
    "bundleName": lambda b: b["name"],
    "dataAmount": lambda b: b["dataAmount"],
    "duration": lambda b: b["duration"],
    "autostart": lambda b: b["autostart"],
    "roamingEnabled": lambda b: len(b["roamingEnabled"]),
    "price": lambda b: b["price"],
}
MAX_PER_PAGE = 1000
ESIM_PAGE_SIZES = {10, 25, 50, 100}
ESIM_FILTER_FIELDS = {"iccid", "customerRef", "lastAction", "actionDate", "assignedDate"}
TIME_OPERATORS = {"eq", "lt", "lte", "gt", "gte"}


def error(status, message, **headers):
    response = JsonResponse({"message": message}, status=status)
    for key, value in headers.items():
        response[key.replace("_", "-")] = value
    return response


def _caller_socket_address(request):
    # What the real eSIM Go sees: the calling server's socket address (not the shop's client rule).
    return request.META.get("REMOTE_ADDR", "")


def _authorised(request) -> bool:
    # Only this installation's sandbox key: the sandbox never sees or compares a real key.
    given = request.headers.get("X-API-Key", "")
    return bool(given) and constant_time_compare(given, settings.SANDBOX_ESIMGO_API_KEY)


def _rate_limit(request):
    """Count this request in its one-second window; returns (headers, over_limit)."""
    limit = settings.SANDBOX_ESIMGO_RATE_LIMIT
    counted = ratelimit.hit("sandbox-esimgo", _caller_socket_address(request), limit=limit, window=1)
    shown_limit = limit or 10  # 0 turns enforcement off; the headers still show the live API's 10/s
    reset = datetime.fromtimestamp(counted.resets_at, tz=timezone.get_fixed_timezone(0))
    headers = {
        "X-Ratelimit-Limit": str(shown_limit),
        "X-Ratelimit-Remaining": str(counted.remaining(shown_limit)),
        "X-Ratelimit-Reset": reset.isoformat().replace("+00:00", "Z"),
        "X-Ratelimit-Cost": "1",
    }
    return headers, bool(limit) and not counted.allowed


def _fault_response(spec):
    body = spec.get("body", {"message": "sandbox fault"})
    status = int(spec.get("status", 500))
    if isinstance(body, str):
        response = HttpResponse(body, status=status, content_type="text/html")
    else:
        response = JsonResponse(body, status=status, safe=False)
    for key, value in (spec.get("headers") or {}).items():
        response[key] = value
    return response


def api(name, methods):
    """Auth, rate limit, method check, fault injection and {"message"} errors for one endpoint."""

    def decorate(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            limit_headers, over_limit = _rate_limit(request)
            if not _authorised(request):
                response = error(403, "access denied")
            elif over_limit:
                response = error(429, "Rate limit exceeded", Retry_After="1")
            elif request.method not in methods:
                response = error(405, f"method {request.method} not allowed")
            else:
                fault = faults.take(request.method, name)
                if fault and fault.get("delay"):
                    time.sleep(float(fault["delay"]))
                if fault and not fault.get("after"):
                    response = _fault_response(fault)
                else:
                    try:
                        response = view(request, *args, **kwargs)
                    except ApiError as exc:
                        response = error(exc.status, exc.message)
                    if fault:
                        response = _fault_response(fault)
            for key, value in limit_headers.items():
                response[key] = value
            return response

        wrapper.endpoint_name = name
        return wrapper

    return decorate


# --- parameter helpers ----------------------------------------------------------------------


def _int_param(request, name, default, low=1, high=None):
    raw = request.GET.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None
    if value < low or (high is not None and value > high):
        raise ApiError(400, f"{name} must be between {low} and {high}" if high else f"{name} must be >= {low}")
    return value


def _bool_param(request, name, default):
    raw = request.GET.get(name)
    if raw in (None, ""):
        return default
    if raw.lower() not in ("true", "false"):
        raise ApiError(400, f"{name} must be true or false")
    return raw.lower() == "true"


def _json_body(request):
    try:
        return json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "request format not accepted") from None


def _esim_or_404(iccid):
    esim = SandboxEsim.objects.filter(iccid=iccid).first()
    if esim is None:
        raise ApiError(404, f"eSIM {iccid} not found")
    return esim


def _bundle_or_404(name):
    bundle = get_catalogue().by_name.get(name)
    if bundle is None:
        raise ApiError(404, f"bundle {name} not found")
    return bundle


def _page_count(rows, size):
    return (rows + size - 1) // size


# --- catalogue ------------------------------------------------------------------------------


@api("catalogue", {"GET"})
def catalogue(request):
    cat = get_catalogue()
    page = _int_param(request, "page", 1)
    per_page = _int_param(request, "perPage", 50, high=MAX_PER_PAGE)
    direction = request.GET.get("direction", "asc")
    if direction not in ("asc", "desc"):
        raise ApiError(400, "direction must be asc or desc")
    order_by = request.GET.get("orderBy", "bundleName")
    if order_by not in CATALOGUE_ORDER_BY:
        raise ApiError(400, f"orderBy must be one of {', '.join(CATALOGUE_ORDER_BY)}")
    bundles = cat.bundles
    if request.GET.get("countries"):
        wanted = {c.strip().upper() for c in request.GET["countries"].split(",") if c.strip()}
        bundles = [b for b in bundles if b["countries"][0]["iso"] in wanted]
    if request.GET.get("region"):
        region = request.GET["region"]
        if region not in CATALOGUE_REGIONS:
            raise ApiError(400, f"unknown region {region!r}")
        if region == "Global":
            bundles = [b for b in bundles if cat.family(b["name"]) == "global"]
        else:
            bundles = [b for b in bundles if b["countries"][0]["region"] == region]
    if request.GET.get("group"):
        bundles = [b for b in bundles if request.GET["group"] in b["groups"]]
    if request.GET.get("description"):
        pattern = request.GET["description"].lower().replace("%", "*")
        if "*" not in pattern:
            pattern = f"*{pattern}*"
        bundles = [b for b in bundles if fnmatch.fnmatchcase(b["description"].lower(), pattern)]
    if order_by != "bundleName" or direction == "desc":
        bundles = sorted(bundles, key=CATALOGUE_ORDER_BY[order_by], reverse=direction == "desc")
    rows = len(bundles)
    chunk = bundles[(page - 1) * per_page : page * per_page]
    bundles_json = ",".join(cat.json[b["name"]] for b in chunk)
    page_count = _page_count(rows, per_page)
    body = f'{{"bundles":[{bundles_json}],"pageCount":{page_count},"rows":{rows},"pageSize":{per_page}}}'
    return HttpResponse(body, content_type="application/json")


@api("catalogue_bundle", {"GET"})
def catalogue_bundle(request, name):
    return JsonResponse(detail(_bundle_or_404(name)))


# --- orders ---------------------------------------------------------------------------------


def _created_at_filters(request):
    filters = []
    for raw in request.GET.getlist("createdAt"):
        operator, _, value = raw.partition(":") if raw.split(":", 1)[0] in TIME_OPERATORS else ("eq", "", raw)
        when = parse_datetime(value)
        if when is None:
            raise ApiError(400, f"createdAt: cannot parse time {value!r}")
        if timezone.is_naive(when):
            when = timezone.make_aware(when, timezone.get_fixed_timezone(0))
        lookup = {
            "eq": "created_at",
            "lt": "created_at__lt",
            "lte": "created_at__lte",
            "gt": "created_at__gt",
            "gte": "created_at__gte",
        }[operator]
        filters.append({lookup: when})
    return filters


def _order_view(order, include_iccids=True):
    data = json.loads(json.dumps(order.response))
    if not include_iccids:
        for line in data.get("order", []):
            line.pop("iccids", None)
            line.pop("esims", None)
    return data


@api("orders", {"GET", "POST"})
def orders(request):
    if request.method == "POST":
        result = services.place_order(_json_body(request), source_ip=_caller_socket_address(request))
        return JsonResponse(result)
    page = _int_param(request, "page", 1)
    limit = _int_param(request, "limit", 25, high=1000)
    include_iccids = _bool_param(request, "includeIccids", False)
    queryset = SandboxOrder.objects.all()
    for condition in _created_at_filters(request):
        queryset = queryset.filter(**condition)
    rows = queryset.count()
    chunk = queryset[(page - 1) * limit : page * limit]
    return JsonResponse(
        {"orders": [_order_view(o, include_iccids) for o in chunk], "pageCount": _page_count(rows, limit), "rows": rows}
    )


@api("order_detail", {"GET"})
def order_detail(request, reference):
    try:
        order = SandboxOrder.objects.filter(reference=uuid.UUID(reference)).first()
    except ValueError:
        raise ApiError(400, f"invalid order reference {reference!r}") from None
    if order is None:
        raise ApiError(404, f"order {reference} not found")
    return JsonResponse(_order_view(order))


# --- eSIMs ----------------------------------------------------------------------------------


def _first_installed(esim, now):
    started = [a.first_used_at for a in esim.assignments.all() if a.first_used_at <= now or a.used_floor_bytes]
    return min(started) if started else None


def _install_details(esim, now, extra_fields=()):
    installed = _first_installed(esim, now)
    item = {
        "iccid": esim.iccid,
        "matchingId": esim.matching_id,
        "smdpAddress": esim.smdp_address,
        "profileStatus": "Installed" if installed else "Released",
        "pin": esim.pin,
        "puk": esim.puk,
        "firstInstalledDateTime": rfc3339(installed),
    }
    if extra_fields:
        lpa = build_lpa(esim.smdp_address, esim.matching_id)
        item["appleInstallUrl"] = apple_install_url(lpa)
        item["androidInstallUrl"] = android_install_url(lpa)
    return item


@api("assignments", {"GET"})
def assignments(request):
    references = [r.strip() for raw in request.GET.getlist("reference") for r in raw.split(",") if r.strip()]
    if not references:
        raise ApiError(400, "reference is required")
    rows, now = [], timezone.now()
    extra = {f.strip() for f in request.GET.get("additionalFields", "").split(",")} & {"appleInstallUrl", "installUrl"}
    for reference in references:
        try:
            order = SandboxOrder.objects.filter(reference=uuid.UUID(reference)).first()
        except ValueError:
            raise ApiError(400, f"invalid reference {reference!r}") from None
        if order is None:
            raise ApiError(404, f"reference {reference} not found")
        for assignment in order.assignments.select_related("esim").order_by("id"):
            row = _install_details(assignment.esim, now, extra)
            row.update(bundle=assignment.bundle_name, reference=reference)
            rows.append(row)
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse(rows[0] if len(rows) == 1 else rows, safe=False)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["ICCID", "Matching ID", "RSP URL", "Bundle", "Reference"])
    for row in rows:
        writer.writerow([row["iccid"], row["matchingId"], row["smdpAddress"], row["bundle"], row["reference"]])
    return HttpResponse(out.getvalue(), content_type="text/csv")


def _esim_summary(esim):
    latest = max(esim.assignments.all(), key=lambda a: a.assigned_at, default=None)
    return {
        "iccid": esim.iccid,
        "customerRef": esim.customer_ref,
        "lastAction": "Bundle Applied" if latest else "eSIM Created",
        "actionDate": rfc3339(latest.assigned_at if latest else esim.created_at),
        "physical": False,
        "assignedDate": rfc3339(esim.created_at),
    }


@api("esims", {"GET", "PUT"})
def esims(request):
    if request.method == "PUT":
        body = _json_body(request) if request.body else {}
        if not isinstance(body, dict):
            raise ApiError(400, "request format not accepted")
        iccid = body.get("iccid") or request.GET.get("iccid")
        customer_ref = body.get("customerRef", request.GET.get("customerRef"))
        if not isinstance(iccid, str) or not iccid or not isinstance(customer_ref, str):
            raise ApiError(400, "iccid and customerRef are required strings")
        esim = _esim_or_404(iccid)
        esim.customer_ref = customer_ref[:128]
        esim.save(update_fields=["customer_ref"])
        return JsonResponse({"status": "success"})
    page = _int_param(request, "page", 1)
    per_page = _int_param(request, "perPage", 25)
    if per_page not in ESIM_PAGE_SIZES:
        raise ApiError(400, "perPage must be one of 10, 25, 50, 100")
    direction = request.GET.get("direction", "asc")
    if direction not in ("asc", "desc"):
        raise ApiError(400, "direction must be asc or desc")
    if request.GET.get("orderBy", "iccid") != "iccid":
        raise ApiError(400, "orderBy must be iccid")
    summaries = [_esim_summary(e) for e in SandboxEsim.objects.prefetch_related("assignments")]
    filter_by = request.GET.get("filterBy")
    if filter_by:
        if filter_by not in ESIM_FILTER_FIELDS:
            raise ApiError(400, f"filterBy must be one of {', '.join(sorted(ESIM_FILTER_FIELDS))}")
        needle = request.GET.get("filter", "").lower()
        summaries = [s for s in summaries if needle in str(s[filter_by]).lower()]
    summaries.sort(key=lambda s: s["iccid"], reverse=direction == "desc")
    rows = len(summaries)
    return JsonResponse(
        {
            "esims": summaries[(page - 1) * per_page : page * per_page],
            "pageCount": _page_count(rows, per_page),
            "pageSize": per_page,
            "rows": rows,
        }
    )


@api("esim_detail", {"GET"})
def esim_detail(request, iccid):
    esim = _esim_or_404(iccid)
    now = timezone.now()
    installed = _first_installed(esim, now)
    extra = request.GET.get("additionalFields", "")
    item = _install_details(esim, now, extra_fields=("appleInstallUrl",) if extra else ())
    item["firstInstalledDateTime"] = int(installed.timestamp() * 1000) if installed else None  # ms, per spec
    item["customerRef"] = esim.customer_ref
    return JsonResponse(item)


def _assignment_json(assignment, now):
    state = usage.status(assignment, now)
    item = {
        "id": str(assignment.pk),
        "callTypeGroup": "data",
        "initialQuantity": assignment.initial_quantity,
        "remainingQuantity": state["remainingQuantity"],
        "assignmentDateTime": rfc3339(assignment.assigned_at),
        "assignmentReference": assignment.reference,
        "bundleState": state["bundleState"],
        "unlimited": assignment.unlimited,
    }
    if state["startTime"]:
        item["startTime"] = rfc3339(state["startTime"])
        item["endTime"] = rfc3339(state["endTime"])
    return item


USED_STATES = {"depleted", "expired", "revoked", "lapsed"}


@api("esim_bundles", {"GET"})
def esim_bundles(request, iccid):
    esim = _esim_or_404(iccid)
    include_used = _bool_param(request, "includeUsed", False)
    limit = _int_param(request, "limit", 15, high=200)
    now = timezone.now()
    grouped = {}
    for assignment in esim.assignments.all():
        item = _assignment_json(assignment, now)
        if not include_used and item["bundleState"] in USED_STATES:
            continue
        if assignment.bundle_name not in grouped:
            grouped[assignment.bundle_name] = {
                "name": assignment.bundle_name,
                "description": assignment.description,
                "assignments": [],
            }
        grouped[assignment.bundle_name]["assignments"].append(item)
    return JsonResponse({"bundles": list(grouped.values())[:limit]})


@api("esim_bundle", {"GET", "DELETE"})
def esim_bundle(request, iccid, name):
    esim = _esim_or_404(iccid)
    if request.method == "DELETE":
        kind = request.GET.get("type", "transaction")
        if kind not in ("validate", "transaction"):
            raise ApiError(400, "type must be validate or transaction")
        refund = _bool_param(request, "refundToBalance", False)
        return JsonResponse(
            services.revoke(
                esim,
                name,
                validate=kind == "validate",
                refund_to_balance=refund,
                offer_id=request.GET.get("offerId", ""),
            )
        )
    latest = esim.assignments.filter(bundle_name=name).order_by("-assigned_at", "-id").first()
    if latest is None:
        raise ApiError(404, f"bundle {name} not found on eSIM {iccid}")
    return JsonResponse({"assignments": [_assignment_json(latest, timezone.now())]})


@api("compatible", {"GET"})
def compatible(request, iccid, bundle):
    esim = _esim_or_404(iccid)
    _bundle_or_404(bundle)
    return JsonResponse({"compatible": services.is_compatible(esim, bundle)})


@api("organisation", {"GET"})
def organisation(request):
    org = Organisation.current()
    return JsonResponse(
        {
            "organisations": [
                {
                    "name": org.name,
                    "currency": org.currency,
                    "balance": money(org.balance),
                    "testCredit": 0,
                    "callbackUrl": services.callback_url(),
                    "groups": sorted({g for b in get_catalogue().bundles for g in b["groups"]}),
                }
            ],
        }
    )


@api("unknown", {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
def unknown(request, path=""):
    raise ApiError(403, "access denied")

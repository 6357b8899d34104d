"""Overload: one request more than WEB_MAX_IN_FLIGHT in a process is answered 503 at once."""

import json

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils import translation

from esimshop.overload import OverloadMiddleware

factory = RequestFactory()


@pytest.fixture(autouse=True)
def _bound(settings):
    settings.WEB_MAX_IN_FLIGHT = 2
    settings.WEB_OVERLOAD_RETRY_AFTER_SECONDS = 3


def nested(paths):
    """A middleware whose view, while it runs, lets the next path in: len(paths) requests in flight at once."""
    answers = {}

    def view(request):
        if remaining:
            path = remaining.pop(0)
            answers[path] = middleware(factory.get(path))
        return HttpResponse("ok")

    remaining = list(paths[1:])
    middleware = OverloadMiddleware(view)
    answers[paths[0]] = middleware(factory.get(paths[0]))
    return middleware, answers


def test_within_the_bound_every_request_is_served():
    middleware, answers = nested(["/", "/countries/"])
    assert [r.status_code for r in answers.values()] == [200, 200]
    assert middleware.in_flight.value == 0


@translation.override("en")
def test_one_more_is_answered_503_with_retry_after():
    middleware, answers = nested(["/", "/countries/", "/api/customer/transactions/purchase"])
    api = answers["/api/customer/transactions/purchase"]
    page = nested(["/", "/countries/", "/bundles/x/"])[1]["/bundles/x/"]
    assert api.status_code == 503 and api["Retry-After"] == "3" and "busy" in json.loads(api.content)["error"]
    assert page.status_code == 503 and page["Retry-After"] == "3" and page["Cache-Control"] == "no-store"
    assert answers["/"].status_code == 200 and answers["/countries/"].status_code == 200
    assert middleware.in_flight.value == 0


def test_provider_callbacks_and_health_checks_are_never_refused():
    callback = "/payments/qpay/callback/5b1f6c3e-0000-4000-8000-000000000000/"
    middleware, answers = nested(["/", "/countries/", callback, "/esimgo/callback/", "/healthz"])
    assert [answers[p].status_code for p in (callback, "/esimgo/callback/", "/healthz")] == [200, 200, 200]


def test_a_failing_view_gives_its_slot_back():
    def view(request):
        raise RuntimeError("boom")

    middleware = OverloadMiddleware(view)
    for _ in range(3):
        with pytest.raises(RuntimeError):
            middleware(factory.get("/"))
    assert middleware.in_flight.value == 0


def test_zero_means_no_bound(settings):
    settings.WEB_MAX_IN_FLIGHT = 0
    _, answers = nested(["/", "/a/", "/b/", "/c/"])
    assert {r.status_code for r in answers.values()} == {200}


def test_the_middleware_runs_before_anything_that_reads_the_database():
    from django.conf import settings as live

    order = live.MIDDLEWARE
    assert order.index("esimshop.overload.OverloadMiddleware") < order.index(
        "django.contrib.auth.middleware.AuthenticationMiddleware"
    )

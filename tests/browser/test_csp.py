"""The shop's Content-Security-Policy, enforced by a real Chromium: an inline script slipped into
a page does not run and is reported (so the browser tests' console watch would catch one)."""

import pytest

from tests.browser.conftest import PHONE, Watch


@pytest.mark.django_db(transaction=True)
def test_chromium_refuses_inline_script_under_the_shops_policy(chromium_executable, live_server, browser):
    watch = Watch(live_server.url)
    page = watch.attach(browser.new_context(**PHONE)).new_page()

    def inject(route):
        response = route.fetch()  # the shop's real answer, CSP header included
        body = response.text().replace("</body>", "<script>window.inlineRan = true</script></body>")
        route.fulfill(response=response, body=body)

    page.route(f"{live_server.url}/", inject)
    response = page.goto(live_server.url + "/")
    assert "script-src 'self';" in response.headers["content-security-policy"]
    assert page.locator("h1").count() == 1  # the page itself rendered
    assert page.evaluate("() => window.inlineRan === undefined")
    assert any("Content Security Policy" in error for error in watch.errors), watch.errors

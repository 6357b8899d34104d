"""Issue 9: the shop started as production runs it, and a shopper buying in real Chromium.

- The Procfile is parsed and its commands run with the environment substituted: `release`, then
  `web` (gunicorn) and `worker` (plus `provisioning` when the Procfile has it).
- DEBUG=False, a throwaway PostgreSQL database, Redis (REDIS_URL), TRUSTED_PROXY_COUNT=1.
- In front of gunicorn a small reverse proxy does what nginx does in production: it appends the
  client's address to X-Forwarded-For and says X-Forwarded-Proto: https (TLS ends at the proxy).
  So SECURE_SSL_REDIRECT stays on, exactly as deployed, and the one-proxy client-address rule is
  exercised; nothing is switched off for the test.
- QPay and eSIM Go are stand-ins in a SEPARATE process (tests/production/standin_settings.py:
  the sandbox apps' real wire formats at http://127.0.0.1:PORT/qpay and /esimgo/v2.4, their own
  SQLite database). The shop sees real providers: its real-provider code path and credentials,
  plain http allowed for loopback hosts only (PROVIDERS_ALLOW_LOOPBACK_HTTP).
- The stand-in QPay marks the invoice paid and posts the callback; the payment page turns by itself.
"""

import http.client
import http.server
import os
import re
import secrets
import signal
import socket
import socketserver
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from esimshop.production_checks import sandbox_secret
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, PHONE, wait_for

# Its Procfile workers consume the default queues on the session's Redis: never beside another
# test that does (one xdist group, tests/conftest.py).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("session-redis-workers")]

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
BUNDLE = "esim_1GB_7D_MN_V2"
TOKEN = r"[A-Za-z0-9_\-]{43}"
ONE_YEAR = 365 * 24 * 3600
SHOPPER_ADDRESS = "198.51.100.23"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def procfile() -> dict:
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            processes[name.strip()] = command.strip()
    return processes


# --- the proxy (nginx's part) ------------------------------------------------------------------


class Proxy(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def proxy_handler(upstream_port: int):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: simple and enough here

        def _forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
            # The browser stands in for shoppers on the internet: its address is the documentation one.
            client = (
                SHOPPER_ADDRESS
                if self.client_address[0] == "127.0.0.1" and "Mozilla" in headers.get("User-Agent", "")
                else self.client_address[0]
            )
            prior = headers.pop("X-Forwarded-For", None)
            headers["X-Forwarded-For"] = f"{prior}, {client}" if prior else client
            headers["X-Forwarded-Proto"] = "https"
            upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
            except OSError:  # gunicorn not up (yet): what nginx answers
                self.send_error(502)
                return
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("connection", "transfer-encoding", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            upstream.close()

        do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _forward

        def log_message(self, *args):
            pass

        def handle(self):
            try:
                super().handle()
            except (BrokenPipeError, ConnectionResetError):  # the browser went away mid-answer
                pass

    return Handler


# --- processes ---------------------------------------------------------------------------------


class Processes:
    def __init__(self, logs: Path):
        self.logs, self.running = logs, []

    def start(self, name, command, env):
        log = open(self.logs / f"{name}.log", "w")
        process = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.running.append((name, process))
        return process

    def run(self, name, command, env, timeout=600):
        result = subprocess.run(
            ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
        (self.logs / f"{name}.log").write_text(result.stdout + result.stderr)
        assert result.returncode == 0, f"{name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result

    def alive(self):
        for name, process in self.running:
            assert process.poll() is None, f"{name} exited: {self.tail(name)}"

    def tail(self, name):
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def stop(self):
        for _name, process in reversed(self.running):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _name, process in self.running:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def wait_http(url, processes, what):
    def up():
        processes.alive()
        try:
            return requests.get(url, timeout=2, allow_redirects=False).status_code < 500
        except requests.RequestException:
            return False

    wait_for(up, timeout=90, what=what)


@pytest.fixture
def throwaway_database():
    from django.conf import settings

    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"] or not settings.REDIS_URL:
        message = "the production-mode test needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL)"
        if os.environ.get("ESIMSHOP_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    import psycopg

    name = f"esimshop_prod_{secrets.token_hex(4)}"
    server = dict(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], password=db["PASSWORD"])
    with psycopg.connect(**server, dbname="postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    yield f"postgres://{auth}@{server['host']}:{server['port']}/{name}", server, name
    with psycopg.connect(**server, dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_shopper_buys_from_the_shop_run_as_in_production(throwaway_database, tmp_path, monkeypatch):
    import psycopg
    from django.conf import settings

    database_url, server, dbname = throwaway_database
    processes = Processes(tmp_path)
    base_env = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "TMPDIR")}
    base_env["PATH"] = f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    base_env["PYTHONUNBUFFERED"] = "1"

    # The stand-in providers: their own process, database and secret key.
    standin_port, web_port, proxy_port = free_port(), free_port(), free_port()
    standin_secret = secrets.token_urlsafe(50)
    standin = f"http://127.0.0.1:{standin_port}"
    standin_env = {
        **base_env,
        "DJANGO_SETTINGS_MODULE": "tests.production.standin_settings",
        "DEBUG": "True",
        "SANDBOX": "True",
        "SECRET_KEY": standin_secret,
        "SITE_URL": standin,
        "REDIS_URL": "",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'standin.sqlite3'}",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }

    shop = f"http://localhost:{proxy_port}"  # the browser's address of the shop (through the proxy)
    shop_env = {
        **base_env,
        "DJANGO_SETTINGS_MODULE": "esimshop.settings",
        "DEBUG": "False",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "SITE_URL": shop,
        "CSRF_TRUSTED_ORIGINS": f"http://localhost:{proxy_port}",  # what the browser says it is on
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_KEY_PREFIX": f"prodtest-{secrets.token_hex(4)}",
        "TRUSTED_PROXY_COUNT": "1",
        "PROVIDERS_ALLOW_LOOPBACK_HTTP": "True",
        "QPAY_BASE_URL": f"{standin}/qpay",
        "ESIMGO_BASE_URL": f"{standin}/esimgo/v2.4",
        # The stand-ins' merchant credentials, as a real provider would have issued them.
        "ESIMGO_API_KEY": sandbox_secret(standin_secret, "esimgo-api-key"),
        "QPAY_CLIENT_ID": "SANDBOX_MERCHANT",
        "QPAY_INVOICE_CODE": "SANDBOX_INVOICE",
        "QPAY_CLIENT_SECRET": sandbox_secret(standin_secret, "qpay-client-secret"),
        "QPAY_CALLBACK_PUBLIC_BASE_URL": f"http://127.0.0.1:{proxy_port}",
        "ESIMGO_CALLBACK_URL": f"http://127.0.0.1:{proxy_port}/esimgo/callback/",
        "EMAIL_URL": "consolemail://",
        "LOG_LEVEL": "INFO",
        "CONN_MAX_AGE": "0",
        "STATIC_ROOT": str(tmp_path / "static"),  # the release step's collectstatic, outside the checkout
        "PORT": str(web_port),
        "WEB_CONCURRENCY": "2",
        "CELERY_CONCURRENCY": "2",
    }
    proxy = Proxy(("127.0.0.1", proxy_port), proxy_handler(web_port))
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        processes.run("standin-migrate", "python manage.py migrate --noinput -v 0", standin_env)
        processes.start(
            "standin", f"gunicorn esimshop.wsgi --bind 127.0.0.1:{standin_port} --workers 1 --threads 8", standin_env
        )
        commands = procfile()
        processes.run("release", commands["release"], shop_env)
        check = processes.run("check-deploy", "python manage.py check --deploy", shop_env)
        assert "esimshop.E001" not in check.stdout + check.stderr
        for name in ("web", "worker", "provisioning"):
            if name in commands:
                processes.start(name, commands[name], shop_env)
        wait_http(f"{standin}/esimgo/v2.4/organisation", processes, "the stand-in providers")
        wait_http(f"http://127.0.0.1:{proxy_port}/healthz", processes, "gunicorn behind the proxy")
        # What beat's first catalogue sync does, now rather than on its schedule.
        processes.run("sync", "python manage.py sync_catalog", shop_env)

        assert requests.get(f"http://127.0.0.1:{proxy_port}/sandbox/qpay/v2/auth/token").status_code == 404
        assert requests.get(f"http://127.0.0.1:{proxy_port}/sandbox/esimgo/v2.4/catalogue").status_code == 404
        plain = requests.get(f"http://127.0.0.1:{web_port}/", allow_redirects=False)  # around the proxy: no TLS
        assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")

        pay_token, statics = buy_in_chromium(
            shop, standin, database=(server, dbname), processes=processes, monkeypatch=monkeypatch, tmp_path=tmp_path
        )
        assert statics, "the pages loaded no static files"
        for url, (status, cache_control) in statics.items():
            assert status == 200, (url, status)
            max_age = re.search(r"max-age=(\d+)", cache_control or "")
            assert max_age and int(max_age.group(1)) >= ONE_YEAR, (url, cache_control)
        with psycopg.connect(**server, dbname=dbname) as conn:
            address, status = conn.execute(
                "SELECT client_address, status FROM payments_invoice WHERE access_token = %s", (pay_token,)
            ).fetchone()
        assert (str(address), status) == (SHOPPER_ADDRESS, "PAID")  # the proxy's entry, not the proxy itself
    finally:
        proxy.shutdown()
        processes.stop()


def buy_in_chromium(shop, standin, *, database, processes, monkeypatch, tmp_path):
    import psycopg
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    server, dbname = database
    statics, errors = {}, []
    shop_host = urlsplit(shop).netloc

    def record(response):
        parts = urlsplit(response.url)
        if parts.netloc == shop_host and parts.path.startswith("/static/"):
            statics[response.url] = (response.status, response.headers.get("cache-control"))

    def console(msg):
        # The stand-in QPay serves its bank logos from its own host; real QPay's come from
        # qpay.mn / s3.qpay.mn, which the (unchanged) CSP allows.
        if msg.type == "error" and not (standin in msg.text and "img-src" in msg.text):
            errors.append(msg.text)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(**PHONE)
            context.on("response", record)
            page = context.new_page()
            page.on("console", console)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(shop + "/")
            page.fill("input[name=q]", "Mongolia")
            page.press("input[name=q]", "Enter")
            page.wait_for_url(f"{shop}/countries/MN/")
            page.click(f"main a[href='/bundles/{BUNDLE}/']")
            page.wait_for_url(f"{shop}/bundles/{BUNDLE}/")
            page.click(f"main a[href*='/checkout/{BUNDLE}/']")
            page.wait_for_url(f"{shop}/checkout/{BUNDLE}/")
            page.fill("input[name=phone_number]", "99112233")
            page.fill("input[name=email]", "traveller@example.mn")
            page.check("input[name=device_confirmed]")  # "my phone takes an eSIM" (issue 13)
            page.click("form[method=post] button[type=submit]")
            page.wait_for_url(re.compile(rf"{re.escape(shop)}/pay/{TOKEN}/$"), timeout=60000)
            pay_token = page.url.rstrip("/").rsplit("/", 1)[-1]
            page.wait_for_load_state("load")
            assert page.get_attribute("#pay", "data-status") == "PENDING"
            assert page.eval_on_selector("img.qr", "img => img.complete && img.naturalWidth > 0")

            with psycopg.connect(**server, dbname=dbname) as conn:
                (qpay_invoice_id,) = conn.execute(
                    "SELECT qpay_invoice_id FROM payments_invoice WHERE access_token = %s", (pay_token,)
                ).fetchone()
            pay_at_standin_bank(standin, qpay_invoice_id)

            # Nothing is clicked from here on: pay.js polls the status API and opens the eSIM page.
            page.wait_for_url(re.compile(rf"{re.escape(shop)}/esims/{TOKEN}/$"), timeout=60000)
            page.wait_for_load_state("load")
            assert page.inner_text("#lpa").startswith("LPA:1$")
            processes.alive()
        finally:
            browser.close()
    assert errors == [], errors
    return pay_token, statics


def pay_at_standin_bank(standin, qpay_invoice_id):
    """A person paying in full in the stand-in QPay's bank app: it marks the invoice paid and
    posts QPay's callback to the shop."""
    bank = requests.Session()
    url = f"{standin}/qpay/pay/{qpay_invoice_id}/"
    assert bank.get(url, timeout=30).status_code == 200
    paid = bank.post(
        url,
        data={"action": "full", "payment_type": "P2P", "csrfmiddlewaretoken": bank.cookies.get("csrftoken", "")},
        timeout=60,
    )
    assert paid.status_code == 200 and "paid=" in paid.url, paid.text[:500]

/* Payment page: polls OUR status endpoint (never QPay) and updates in place. No build step. */
(function () {
  "use strict";
  var root = document.getElementById("pay");
  if (!root) return;
  var statusUrl = root.getAttribute("data-status-url");
  var expiresAt = Date.parse(root.getAttribute("data-expires-at"));
  var statusEl = document.getElementById("pay-status");
  var texts = document.getElementById("pay-status-texts");
  var options = document.getElementById("pay-options");
  var countdown = document.getElementById("pay-countdown");
  var current = root.getAttribute("data-status");
  var moneyState = root.getAttribute("data-payment-state");
  var urgent = document.getElementById("pay-urgent");
  var startedAt = Date.now();

  // A button that creates a QPay invoice takes a second or two: say so, and no double-submit.
  Array.prototype.forEach.call(document.querySelectorAll("form.pay-action"), function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button");
      if (!button) return;
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      if (form.getAttribute("data-busy-text")) button.textContent = form.getAttribute("data-busy-text");
    });
  });

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function tick() {
    if (!countdown || isNaN(expiresAt)) return;
    var left = Math.max(0, Math.floor((expiresAt - Date.now()) / 1000));
    countdown.textContent = Math.floor(left / 60) + ":" + pad(left % 60);
    if (left <= 60 && urgent && !urgent.textContent) {
      urgent.textContent = texts.getAttribute("data-urgent");
      countdown.parentNode.className += " urgent";
    }
    if (left > 0 && current === "PENDING") setTimeout(tick, 1000);
  }

  function show(status, data) {
    if (data.paymentState && data.paymentState !== moneyState && status === "PENDING") {
      // Part of the money arrived: the page shows what is missing and offers only the rest.
      window.location.reload();
      return;
    }
    if (status === current) return;
    current = status;
    root.setAttribute("data-status", status);
    var text = texts && texts.getAttribute("data-" + status.toLowerCase());
    if (text) statusEl.textContent = text;
    statusEl.className = "pay-status status-" + status.toLowerCase();
    if (status !== "PENDING" && options) options.hidden = true;
    if (status === "PROCESSED" && data.esimUrl) {
      window.location.assign(data.esimUrl);
    } else if (status === "EXPIRED" || status === "CANCELLED") {
      window.location.reload();
    }
  }

  /* Poll schedule (bench/capacity.py mirrors it): every 3 s for the first minute, while the
     shopper is in the bank app; then each wait 1.5x the last, up to 15 s. Once paid, every 2 s
     (the eSIM is seconds away). A 429/503 waits what Retry-After says. A page coming back into
     view (the shopper returns from the bank app) asks at once. */
  var FAST_MS = 3000, FAST_FOR_MS = 60 * 1000, GROWTH = 1.5, MAX_MS = 15000, PAID_MS = 2000;
  var delay = FAST_MS, timer = null, inFlight = false, done = false;

  function nextDelay(status) {
    if (status === "PAID") return PAID_MS;
    if (Date.now() - startedAt < FAST_FOR_MS) return FAST_MS;
    delay = Math.min(MAX_MS, Math.round(delay * GROWTH));
    return delay;
  }

  function schedule(ms) {
    if (done) return;
    clearTimeout(timer);
    timer = setTimeout(poll, ms);
  }

  function poll() {
    if (inFlight || done) return;
    inFlight = true;
    var xhr = new XMLHttpRequest();
    xhr.open("GET", statusUrl);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.onload = function () {
      inFlight = false;
      var wait = nextDelay(current);
      if (xhr.status === 200) {
        try {
          var data = JSON.parse(xhr.responseText);
          show(data.status, data);
          if (data.status === "PROCESSED" || data.status === "FAILED" ||
              data.status === "EXPIRED" || data.status === "CANCELLED") { done = true; return; }
          wait = nextDelay(data.status);
        } catch (e) { /* keep polling */ }
      } else if (xhr.status === 429 || xhr.status === 503) {
        wait = 1000 * (parseInt(xhr.getResponseHeader("Retry-After"), 10) || 30);
      }
      schedule(wait);
    };
    xhr.onerror = function () { inFlight = false; schedule(MAX_MS); };
    xhr.send();
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") schedule(0);
  });

  tick();
  schedule(FAST_MS);
})();

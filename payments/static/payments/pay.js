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
  var startedAt = Date.now();

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function tick() {
    if (!countdown || isNaN(expiresAt)) return;
    var left = Math.max(0, Math.floor((expiresAt - Date.now()) / 1000));
    countdown.textContent = Math.floor(left / 60) + ":" + pad(left % 60);
    if (left > 0 && current === "PENDING") setTimeout(tick, 1000);
  }

  function show(status, data) {
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

  function poll() {
    var xhr = new XMLHttpRequest();
    xhr.open("GET", statusUrl);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.onload = function () {
      var delay = Date.now() - startedAt > 10 * 60 * 1000 ? 10000 : 3000;
      if (xhr.status === 200) {
        try {
          var data = JSON.parse(xhr.responseText);
          show(data.status, data);
          if (data.status === "PROCESSED" || data.status === "FAILED" ||
              data.status === "EXPIRED" || data.status === "CANCELLED") return;
        } catch (e) { /* keep polling */ }
      } else if (xhr.status === 429) {
        delay = 1000 * (parseInt(xhr.getResponseHeader("Retry-After"), 10) || 30);
      }
      setTimeout(poll, delay);
    };
    xhr.onerror = function () { setTimeout(poll, 10000); };
    xhr.send();
  }

  tick();
  setTimeout(poll, 3000);
})();

// eSIM page: copy buttons, and live "preparing" state (polls the status JSON, reloads when ready).
// The page works without this file: codes are plain selectable text and a <noscript> refresh polls.
(function () {
  "use strict";
  var page = document.querySelector(".esim-page");
  if (!page) return;

  var note = page.querySelector(".copied");
  page.querySelectorAll("button.copy").forEach(function (button) {
    if (!navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var target = document.getElementById(button.getAttribute("data-copy-target"));
      if (!target) return;
      navigator.clipboard.writeText(target.textContent.trim()).then(function () {
        if (note) note.textContent = button.textContent + " ✓";
      });
    });
  });

  var statusUrl = page.getAttribute("data-status-url");
  if (!statusUrl || !window.fetch) return;
  var delay = 1000;
  function poll() {
    fetch(statusUrl, { headers: { Accept: "application/json" }, cache: "no-store", credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && data.status !== page.getAttribute("data-status")) {
          window.location.reload();
          return;
        }
        delay = Math.min(delay * 1.5, 10000);
        window.setTimeout(poll, delay);
      })
      .catch(function () { window.setTimeout(poll, 10000); });
  }
  window.setTimeout(poll, delay);
})();

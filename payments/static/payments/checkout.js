/* Checkout: focus the error summary, hint e-mail typos ("gmail.con"), busy state while the
   QPay invoice is created (a second tap must not look like nothing happened). No build step. */
(function () {
  "use strict";
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();

  var DOMAINS = ["gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "mail.ru", "yandex.ru",
                 "gmail.mn", "mobinet.mn", "magicnet.mn", "list.ru"];
  var email = document.getElementById("id_email");
  var hint = document.getElementById("email-hint");

  function distance(a, b) {
    var row = [], i, j, prev, tmp;
    for (j = 0; j <= b.length; j++) row[j] = j;
    for (i = 1; i <= a.length; i++) {
      prev = row[0]; row[0] = i;
      for (j = 1; j <= b.length; j++) {
        tmp = row[j];
        row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = tmp;
      }
    }
    return row[b.length];
  }

  function suggest() {
    var value = (email.value || "").trim(), at = value.lastIndexOf("@");
    hint.hidden = true;
    if (at < 1) return;
    var domain = value.slice(at + 1).toLowerCase();
    if (!domain || DOMAINS.indexOf(domain) >= 0) return;
    for (var k = 0; k < DOMAINS.length; k++) {
      if (distance(domain, DOMAINS[k]) <= 2) {
        var fixed = value.slice(0, at + 1) + DOMAINS[k];
        hint.textContent = "";
        var prefix = document.createTextNode(hint.getAttribute("data-prefix") + " ");
        var button = document.createElement("button");
        button.type = "button";
        button.className = "link-button";
        button.textContent = fixed;
        button.addEventListener("click", function () { email.value = fixed; hint.hidden = true; email.focus(); });
        hint.appendChild(prefix);
        hint.appendChild(button);
        hint.hidden = false;
        return;
      }
    }
  }

  if (email && hint) {
    email.addEventListener("blur", suggest);
    email.addEventListener("change", suggest);
  }

  var form = document.querySelector("form.checkout-form");
  if (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (!button || button.disabled) return;
      // Disabled after this tick, so the browser still submits the form.
      setTimeout(function () {
        button.disabled = true;
        button.setAttribute("aria-busy", "true");
        button.textContent = form.getAttribute("data-busy-text");
      }, 0);
    });
  }
})();

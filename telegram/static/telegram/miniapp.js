/* The storefront as a Telegram Mini App. On every page (a static file: CSP allows no inline
 * script), but it only acts inside Telegram: the entry page was opened with Telegram's launch
 * parameters (#tgWebAppData=...) and this tab remembers that in sessionStorage.
 *
 * It loads Telegram's client script (window.Telegram.WebApp; the sandbox serves a stand-in),
 * then: hands initData to the server (which validates it; the client is never trusted), follows
 * Telegram's theme colours, shows the Back button and the Main button (Buy, Pay), opens bank-app
 * and QPay links with openLink, and prefills the checkout phone from a contact shared with the bot.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var FLAG = "esimshop.telegram";
  var launched = /(^|[#&])tgWebAppData=/.test(window.location.hash);
  var remembered = false;
  try { remembered = window.sessionStorage.getItem(FLAG) === "1"; } catch (e) { /* storage off */ }
  if (!launched && !remembered && !document.getElementById("tg-entry")) { return; }

  function loadSdk(done) {
    if (window.Telegram && window.Telegram.WebApp) { done(); return; }
    var tag = document.createElement("script");
    tag.src = script.dataset.sdk;
    tag.onload = done;
    tag.onerror = function () { showEntryError(""); };
    document.head.appendChild(tag);
  }

  function byId(id) { return document.getElementById(id); }

  function showEntryError(text) {
    var status = byId("tg-entry-status");
    if (!status) { return; }
    status.hidden = true;
    if (text) { byId("tg-entry-error").textContent = text; byId("tg-entry-error").hidden = false; }
    else { byId("tg-entry-outside").hidden = false; }
  }

  function theme(app) {
    var params = app.themeParams || {};
    var root = document.documentElement;
    Object.keys(params).forEach(function (key) {
      if (/^#[0-9a-fA-F]{3,8}$/.test(String(params[key]))) {
        root.style.setProperty("--tg-theme-" + key.replace(/_/g, "-"), params[key]);
      }
    });
    root.classList.toggle("tg-dark", app.colorScheme === "dark");
  }

  function enter(app) {
    var entry = byId("tg-entry");
    if (!entry) { return; }
    if (!app.initData) { showEntryError(""); return; }
    var body = new FormData();
    body.append("init_data", app.initData);
    body.append("next", entry.dataset.next || "/");
    body.append("csrfmiddlewaretoken", entry.querySelector("input[name=csrfmiddlewaretoken]").value);
    fetch(entry.dataset.sessionUrl, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        if (answer.ok) { window.location.replace(answer.next); } else { showEntryError(answer.reason ? answer.error + " (" + answer.reason + ")" : answer.error); }
      })
      .catch(function () { showEntryError(""); });
  }

  function backButton(app) {
    if (!app.BackButton || window.location.pathname === "/" || byId("tg-entry")) { return; }
    app.BackButton.onClick(function () {
      if (window.history.length > 1) { window.history.back(); } else { window.location.href = "/"; }
    });
    app.BackButton.show();
  }

  function mainButton(app) {
    if (!app.MainButton) { return; }
    var checkout = document.querySelector("main form[method=post] input[name=phone_number]");
    // The Buy button of a plan page only (lists of plans keep their own links).
    var buy = window.location.pathname.indexOf("/bundles/") === 0 ? document.querySelector("main a[href*='/checkout/']") : null;
    var target, action;
    if (checkout) {
      var form = checkout.form;
      target = form.querySelector("button[type=submit]");
      action = function () { app.MainButton.showProgress(); form.requestSubmit(); };
    } else if (buy) {
      target = buy;
      action = function () { window.location.href = buy.href; };
    }
    if (!target) { app.MainButton.hide(); return; }
    app.MainButton.setText(target.textContent.trim());
    app.MainButton.onClick(action);
    app.MainButton.show();
    target.classList.add("tg-replaced");
  }

  function links(app) {
    // Links that leave the shop (QPay's short link, bank apps, Apple's/Google's eSIM install pages)
    // must leave the Mini App's web view too: https with openLink, app schemes handed to the OS.
    document.querySelectorAll("a[href]").forEach(function (link) {
      var url;
      try { url = new URL(link.getAttribute("href"), window.location.href); } catch (e) { return; }
      if (url.origin === window.location.origin) { return; }
      link.addEventListener("click", function (event) {
        event.preventDefault();
        if (/^https?:$/.test(url.protocol) && app.openLink) { app.openLink(url.href); } else { window.location.href = url.href; }
      });
    });
    document.querySelectorAll("a[href='/my-esims/']").forEach(function (link) {
      link.setAttribute("href", script.dataset.myEsimsUrl);
    });
  }

  function fillPhone(input, tries) {
    fetch(script.dataset.contactUrl, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : {}; })
      .then(function (answer) {
        if (answer.phone) { if (!input.value) { input.value = answer.phone; } return; }
        if (tries > 0) { window.setTimeout(function () { fillPhone(input, tries - 1); }, 1000); }
      })
      .catch(function () { /* the shopper types it */ });
  }

  function contact(app) {
    var input = document.querySelector("main form[method=post] input[name=phone_number]");
    if (!input || input.value) { return; }
    fillPhone(input, 0);
    if (!app.requestContact) { return; }
    var share = document.createElement("button");
    share.type = "button";
    share.className = "secondary tg-share-contact";
    share.textContent = script.dataset.shareLabel;
    share.addEventListener("click", function () {
      app.requestContact(function (shared) { if (shared) { fillPhone(input, 15); } });
    });
    input.insertAdjacentElement("afterend", share);
  }

  function start() {
    var app = window.Telegram && window.Telegram.WebApp;
    if (!app || !app.initData) { showEntryError(""); return; }
    try { window.sessionStorage.setItem(FLAG, "1"); } catch (e) { /* storage off */ }
    var css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = script.dataset.css;
    document.head.appendChild(css);
    document.documentElement.classList.add("in-telegram");
    app.ready();
    if (app.expand) { app.expand(); }
    theme(app);
    if (app.onEvent) { app.onEvent("themeChanged", function () { theme(app); }); }
    enter(app);
    backButton(app);
    mainButton(app);
    links(app);
    contact(app);
  }

  loadSdk(start);
}());

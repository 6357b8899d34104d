/* Sandbox stand-in for Telegram's telegram-web-app.js: the part of window.Telegram.WebApp the
 * shop uses, so the Mini App runs in a plain browser with no request leaving the machine.
 * Like Telegram's script it reads the launch parameters from the URL fragment
 * (#tgWebAppData=...&tgWebAppThemeParams=...) and keeps them in sessionStorage for later pages.
 * The Main and Back buttons are drawn as page buttons; requestContact asks the sandbox to post
 * a contact update to the shop's webhook (as Telegram would).
 */
(function () {
  "use strict";
  var KEY = "__telegram__initParams";
  function parse(fragment) {
    var out = {};
    fragment.replace(/^#/, "").split("&").forEach(function (pair) {
      if (!pair) { return; }
      var at = pair.indexOf("=");
      var key = decodeURIComponent(at < 0 ? pair : pair.slice(0, at));
      out[key] = at < 0 ? "" : decodeURIComponent(pair.slice(at + 1));
    });
    return out;
  }
  var params = parse(window.location.hash);
  try {
    if (params.tgWebAppData) { window.sessionStorage.setItem(KEY, JSON.stringify(params)); }
    else { params = JSON.parse(window.sessionStorage.getItem(KEY) || "{}"); }
  } catch (e) { /* storage off */ }
  var initData = params.tgWebAppData || "";
  var unsafe = {};
  var initFields = parse(initData ? "#" + initData.replace(/\+/g, "%20") : "");
  if (initFields.user) { try { unsafe.user = JSON.parse(initFields.user); } catch (e) { unsafe = {}; } }
  var theme = {};
  try { theme = JSON.parse(params.tgWebAppThemeParams || "{}"); } catch (e) { theme = {}; }

  var css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = document.currentScript.src.replace(/telegram-web-app\.js.*$/, "sandbox.css");
  document.head.appendChild(css);

  function pageButton(className, label) {
    var handlers = [];
    var element = null;
    var api = {
      text: label, isVisible: false, isActive: true, isProgressVisible: false,
      setText: function (text) { api.text = text; if (element) { element.textContent = text; } return api; },
      onClick: function (fn) { handlers.push(fn); return api; },
      offClick: function (fn) { handlers = handlers.filter(function (h) { return h !== fn; }); return api; },
      show: function () {
        if (!element) {
          element = document.createElement("button");
          element.type = "button";
          element.className = className;
          element.addEventListener("click", function () { handlers.forEach(function (fn) { fn(); }); });
          document.body.appendChild(element);
        }
        element.textContent = api.text;
        element.hidden = false;
        api.isVisible = true;
        if (className === "tg-sandbox-main-button") { document.body.classList.add("tg-sandbox-has-main"); }
        return api;
      },
      hide: function () { if (element) { element.hidden = true; } api.isVisible = false; return api; },
      enable: function () { api.isActive = true; return api; },
      disable: function () { api.isActive = false; return api; },
      showProgress: function () { api.isProgressVisible = true; if (element) { element.disabled = true; } return api; },
      hideProgress: function () { api.isProgressVisible = false; if (element) { element.disabled = false; } return api; },
      setParams: function (p) { if (p && p.text) { api.setText(p.text); } return api; }
    };
    return api;
  }

  var shareUrl = document.currentScript.src.replace(/static\/.*$/, "sandbox/telegram/share-contact/");
  window.Telegram = window.Telegram || {};
  window.Telegram.WebApp = {
    initData: initData,
    initDataUnsafe: unsafe,
    version: params.tgWebAppVersion || "8.0",
    platform: params.tgWebAppPlatform || "sandbox",
    colorScheme: "dark",
    themeParams: theme,
    isExpanded: true,
    ready: function () {},
    expand: function () {},
    close: function () {},
    onEvent: function () {},
    offEvent: function () {},
    openLink: function (url) { window.open(url, "_blank", "noopener"); },
    openTelegramLink: function (url) { window.open(url, "_blank", "noopener"); },
    requestContact: function (callback) {
      var user = unsafe.user || {};
      fetch(shareUrl, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ user_id: user.id, first_name: user.first_name, language_code: user.language_code })
      }).then(function (response) { return response.json(); })
        .then(function (answer) { if (callback) { callback(Boolean(answer.ok)); } })
        .catch(function () { if (callback) { callback(false); } });
    },
    MainButton: pageButton("tg-sandbox-main-button", ""),
    BackButton: pageButton("tg-sandbox-back-button", "‹ Back"),
    HapticFeedback: { impactOccurred: function () {}, notificationOccurred: function () {}, selectionChanged: function () {} }
  };
}());

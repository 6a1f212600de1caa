// What the portal's pages add with script; each works without it.
// - The challenge countdown: the page says when the challenge expires; this adds
//   the seconds left.
// - "Approve on your phone": the page long-polls the login's state (the server
//   holds each poll up to 10 s until it changes) and moves on by itself, posting
//   the page's own form, once the phone has answered.
"use strict";
(function () {
  var time = document.querySelector("time[data-expires]");
  var out = document.querySelector(".countdown");
  if (!time || !out) { return; }
  var expires = Number(time.getAttribute("data-expires")) * 1000;
  var ja = document.documentElement.lang === "ja";
  var announced = -1;
  function tick() {
    var left = Math.max(0, Math.round((expires - Date.now()) / 1000));
    var text = left > 0 ? (ja ? "残り " + left + " 秒" : left + " s left") : (ja ? "期限切れ" : "expired");
    // Screen readers hear it every 30 s and at the end, not every second.
    if (left === 0 || left % 30 === 0 || announced < 0) {
      out.setAttribute("aria-live", "polite");
      announced = left;
    } else {
      out.setAttribute("aria-live", "off");
    }
    out.textContent = ja ? "（" + text + "）" : "(" + text + ")";
    if (left > 0) { window.setTimeout(tick, 1000); }
  }
  tick();
}());
(function () {
  var form = document.querySelector("form#approved[data-status]");
  if (!form || !window.fetch) { return; }
  var url = form.getAttribute("data-status") + "?wait=10";
  var RETRY_MS = 1000;
  var leaving = false;
  // Once the person submits a form (the typed response, another device), the page is
  // leaving: a poll seeing that answer must not post this form over it.
  document.addEventListener("submit", function () { leaving = true; }, true);
  function poll() {
    if (leaving) { return; }
    window.fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        // Any answer, or an expiry, is the server's to show: the form asks it.
        if (leaving) { return; }
        if (data.state === "pending") { poll(); } else if (data.state !== "none") { form.submit(); }
      })
      .catch(function () { window.setTimeout(poll, RETRY_MS); });
  }
  poll();
}());

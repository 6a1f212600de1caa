// OpenDSC Mobile: the accounts, activation, waiting logins and the offline
// response (docs/mobile.md). Plain modules, no framework; every element id is
// the one docs/mobile.md's "The app's screens" names.

import * as accounts from "./accounts.js";
import { lang, t, translatePage } from "./i18n.js";
import * as ocra from "./ocra.js";
import * as protocol from "./protocol.js";
import * as signing from "./signing.js";

const POLL_MS = 1000;  // while a request is shown; otherwise a long poll (see pollLoop)
const $ = (sel, root = document) => root.querySelector(sel);

const state = { accounts: [], pending: null, revoked: new Set(), requests: new Map(), loops: new Set(), scanning: null };

function say(text) { $("#error").textContent = ""; $("#message").textContent = text; }
function fail(text) { $("#message").textContent = ""; $("#error").textContent = text; }
function show(id, visible) { $("#" + id).hidden = !visible; }

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") { node.className = v; } else if (k === "data") {
      for (const [dk, dv] of Object.entries(v)) { node.dataset[dk] = dv; }
    } else if (k.startsWith("on")) { node.addEventListener(k.slice(2), v); } else { node.setAttribute(k, v); }
  }
  node.append(...children);
  return node;
}

async function api(server, path, body) {
  const res = await fetch(server + "/mobile/api" + path, {
    method: body === undefined ? "GET" : "POST", headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store", credentials: "omit",
  });
  let data = {};
  try { data = await res.json(); } catch (e) { data = {}; }
  return { status: res.status, data };
}

function problem(data, fallback) {
  const detail = data && (data.message || data.error || data.detail);
  return typeof detail === "string" ? detail : fallback;
}

// ---- accounts

async function loadAccounts() {
  state.accounts = await accounts.all();
  const list = $("#accounts");
  list.replaceChildren(...state.accounts.map((a) => el("li", { class: "account", data: { serial: a.serial, user: a.user, server: a.server } },
    el("span", { class: "who" }, a.user), " ",
    el("span", { class: "where" }, new URL(a.server).host + " · " + a.serial),
    state.revoked.has(a.id) ? el("span", { class: "revoked" }, " · " + t("no longer active")) : "",
    el("span", { class: "actions" },
      el("button", { type: "button", class: "respond", onclick: () => openRespond(a) }, t("Get a response")),
      el("button", { type: "button", class: "remove", onclick: () => removeAccount(a) }, t("Remove"))))));
  show("no-accounts", state.accounts.length === 0);
}

// Removing an account tells its server first (a signed removal revokes the phone
// there), so no login goes on waiting for a phone that has forgotten its keys.
async function removeAccount(account) {
  if (!window.confirm(t("Remove {user} ({serial}) from this phone? Its server will no longer ask this phone to approve logins.", account))) { return; }
  if (!state.revoked.has(account.id) && !await tellServerRemoved(account)
      && !window.confirm(t("The server could not be told, so it may still ask this phone to approve logins. Remove {user} ({serial}) from this phone anyway?", account))) {
    fail(t("Nothing was removed: the server could not be told."));
    return;
  }
  await accounts.remove(account.id);
  for (const [id, node] of state.requests) {
    if (node.dataset.account === account.id) { node.remove(); state.requests.delete(id); }
  }
  show("requests", state.requests.size > 0);
  say(t("Removed {user} ({serial})", account));
  await loadAccounts();
}

async function tellServerRemoved(account) {
  try {
    const reply = await api(account.server, "/remove", await protocol.signed(account.deviceKey,
      { device: account.serial, poll: Math.floor(Date.now() / 1000), remove: true }));
    // bad-signature: the server no longer knows this phone (revoked already), which is the aim
    return reply.status === 200 || (reply.status === 401 && reply.data.error === "bad-signature");
  } catch (e) { return false; }
}

// ---- activation

function codeFromText(text) { return text.toUpperCase().replace(/[\s-]/g, ""); }

async function activate(server, code) {
  code = codeFromText(code);
  if (!/^[A-Z0-9]{8}$/.test(code)) { fail(t("The activation code has 8 letters and digits.")); return; }
  let origin;
  try { origin = new URL(server).origin; } catch (e) { fail(t("The server must be an address such as https://login.example.com.")); return; }
  say(t("Activating…"));
  try {
    const keys = await protocol.newKeys();
    const { status, data } = await api(origin, "/activate",
      { code, ecdh: await protocol.publicRaw(keys.ecdh), device_key: await protocol.publicRaw(keys.device) });
    if (status !== 200) { fail(status === 404 ? t("This activation code is not valid: it may be used or expired. Make a new one in the portal.") : problem(data, t("The activation failed."))); return; }
    const suite = ocra.parseSuite(data.suite);
    const derived = await protocol.derive(keys.ecdh, data.ecdh, data.activation, suite.hash);
    state.pending = { server: origin, device: keys.device, activation: data.activation, suite: data.suite,
                      serial: data.serial, user: data.user, ...derived };
    show("add-account", false);
    show("choose-pin", true);
    say(t("Choose a PIN for {user}.", data));
    $("#pin").focus();
  } catch (e) {
    fail(t("The activation failed: the server could not be reached or answered wrongly."));
  }
}

async function finishActivation(event) {
  event.preventDefault();
  const p = state.pending;
  const pin = $("#pin").value, again = $("#pin2").value;
  if (!p) { return; }
  if (!ocra.PIN_PATTERN.test(pin)) { fail(t("The PIN must be 4 to 8 digits.")); return; }
  if (pin !== again) { fail(t("The two PINs differ.")); return; }
  try {
    const blob = await protocol.sealPin(p.pinKey, p.activation, pin);
    const { signature } = await protocol.signed(p.device, { activation: p.activation, pin: blob });
    const { status, data } = await api(p.server, "/activate/finish", { activation: p.activation, pin: blob, signature });
    if (status !== 200) { fail(t("{problem} Start again with a new code.", { problem: problem(data, t("The activation failed.")) })); return; }
    for (const old of state.accounts) {  // a new phone for the user replaces the old one, on the server too
      if (old.server === p.server && old.user === p.user) { await accounts.remove(old.id); }
    }
    const account = { id: accounts.accountId(p.server, p.serial), server: p.server, user: p.user, serial: p.serial,
                      suite: p.suite, deviceKey: p.device, ocraKey: p.ocraKey, added: Date.now() };
    await accounts.put(account);
    state.pending = null;
    $("#pin").value = ""; $("#pin2").value = "";
    show("choose-pin", false);
    say(t("Activated {user} ({serial})", account));
    await loadAccounts();
    subscribePush(account);  // best effort, in the background: polling works without it
    pollAll();
  } catch (e) {
    fail(t("The activation failed: the server could not be reached."));
  }
}

// ---- the camera

async function scan() {
  if (!navigator.mediaDevices || !window.jsQR) { fail(t("This browser cannot use the camera here: type the code.")); return; }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  } catch (e) {
    fail(t("The camera is not available: type the code instead.")); return;
  }
  const video = $("#camera");
  video.srcObject = stream;
  video.hidden = false;
  await video.play().catch(() => {});
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const stop = () => { stream.getTracks().forEach((t) => t.stop()); video.hidden = true; state.scanning = null; };
  state.scanning = stop;
  say(t("Point the camera at the QR code in the portal."));
  const tick = () => {
    if (state.scanning !== stop) { return; }
    if (video.videoWidth) {
      canvas.width = video.videoWidth; canvas.height = video.videoHeight;
      ctx.drawImage(video, 0, 0);
      const found = window.jsQR(ctx.getImageData(0, 0, canvas.width, canvas.height).data, canvas.width, canvas.height,
                                { inversionAttempts: "dontInvert" });
      const target = found && activationLink(found.data);
      if (target) { stop(); activate(target.server, target.code); return; }
    }
    setTimeout(tick, 150);
  };
  tick();
}

// The portal's QR holds https://HOST/mobile/#activate=CODE: the server and the code.
function activationLink(text) {
  try {
    const url = new URL(text);
    const m = /^#activate=([A-Za-z0-9-]{8,9})$/.exec(url.hash);
    return m && url.pathname.endsWith("/mobile/") ? { server: url.origin, code: m[1] } : null;
  } catch (e) { return null; }
}

// ---- waiting logins

// Each account polls in a loop of its own while the app is visible: a long poll
// (the server holds it up to LONG_POLL_S while nothing waits, and answers as
// soon as a login arrives), and a plain poll every POLL_MS while one of its
// requests is shown, so one that expires or is answered elsewhere goes away.
const LONG_POLL_S = 10;

function pollAll() {
  for (const account of state.accounts) {
    if (!state.loops.has(account.id)) {
      state.loops.add(account.id);
      pollLoop(account).finally(() => state.loops.delete(account.id));
    }
  }
}

async function pollLoop(account) {
  while (document.visibilityState === "visible" && !state.revoked.has(account.id)
         && state.accounts.some((a) => a.id === account.id)) {
    const showing = [...state.requests.values()].some((node) => node.dataset.account === account.id);
    const ok = await pollOnce(account, showing ? 0 : LONG_POLL_S);
    if (!ok || showing) { await new Promise((done) => setTimeout(done, ok ? POLL_MS : 2 * POLL_MS)); }
  }
}

async function pollOnce(account, wait) {
  let reply;
  try {
    const body = await protocol.signed(account.deviceKey, { device: account.serial, poll: Math.floor(Date.now() / 1000) });
    reply = await api(account.server, "/waiting" + (wait ? "?wait=" + wait : ""), body);
  } catch (e) { return false; }  // offline: the typed response still works
  if (reply.status === 401) {  // replaced by a new phone, or revoked
    if (!state.revoked.has(account.id)) { state.revoked.add(account.id); await loadAccounts(); }
    return false;
  }
  if (reply.status !== 200) { return false; }
  const seen = new Set();
  for (const item of reply.data.waiting || []) {
    seen.add(item.transaction);
    if (!state.requests.has(item.transaction)) { addRequest(account, item); }
  }
  for (const [id, node] of state.requests) {
    if (node.dataset.account === account.id && !seen.has(id) && !node.dataset.busy) { node.remove(); state.requests.delete(id); }
  }
  show("requests", state.requests.size > 0);
  return true;
}

function addRequest(account, item) {
  const when = new Date(item.at);
  const numbers = item.numbers.map((n) => el("button", { type: "button", class: "number", "aria-pressed": "false",
    onclick: (e) => pick(article, e.currentTarget) }, String(n)));
  const pinId = "pin-" + item.transaction;
  const heading = { login: "Login request for {user}", withdrawal: "Withdrawal request for {user}",
                    card: "Online card request for {user}", "pin-change": "PIN change for {user}" }[item.purpose]
                  || "Request for {user}";
  const changing = item.purpose === "pin-change";  // answered with the new PIN, as on the token
  const article = el("article", { class: "request", data: { transaction: item.transaction, serial: account.serial,
                                                             account: account.id } },
    el("h3", {}, t(heading, item)),
    el("p", { class: "origin" }, t("From {origin}, at {time}", { origin: item.origin || t("an unknown place"), time: when.toLocaleTimeString() })),
    ...(withdrawal(item) ? [
      el("p", { class: "amount" }, t("Amount {amount}", { amount: Number(item.amount).toLocaleString(lang) })),
      el("p", { class: "destination" }, t("To {destination}", item)),
      el("p", { class: "signing" }, t("Approving signs this amount and destination: check both against the withdrawal you intend."))] : []),
    el("fieldset", {}, el("legend", {}, t("Pick the number shown on the login page")), ...numbers),
    changing ? el("p", { class: "pin-change" }, t("Enter the NEW PIN you chose in the portal, not the old one.")) : "",
    el("label", { for: pinId }, t(changing ? "New PIN" : "PIN")),
    el("input", { id: pinId, class: "pin", type: "password", inputmode: "numeric", pattern: "[0-9]*", maxlength: "8",
                  autocomplete: "off" }),
    el("div", { class: "actions" },
      el("button", { type: "button", class: "approve", onclick: () => answer(account, item, article, "approve") }, t("Approve")),
      el("button", { type: "button", class: "decline", onclick: () => answer(account, item, article, "decline") }, t("Decline"))));
  state.requests.set(item.transaction, article);
  $("#request-list").append(article);
  show("requests", true);
  if (navigator.vibrate) { navigator.vibrate(200); }
}

// A withdrawal is signed (docs/mobile.md): the server's request carries its amount and destination.
function withdrawal(item) { return item.purpose === "withdrawal"; }

// The OCRA response: for a withdrawal the signature over its challenge, amount and destination's digits.
function ocraResponse(account, challenge, pin, values = null) {
  if (!values) { return ocra.response(account.ocraKey, ocra.parseSuite(account.suite), challenge, pin); }
  return ocra.response(account.ocraKey, ocra.parseSuite(signing.suiteFor(account.suite)),
                       signing.question(challenge, values.amount, values.destination_digits), pin);
}

function pick(article, button) {
  for (const b of article.querySelectorAll("button.number")) { b.setAttribute("aria-pressed", String(b === button)); }
}

async function answer(account, item, article, decision) {
  const picked = article.querySelector("button.number[aria-pressed=true]");
  const pin = article.querySelector("input.pin").value;
  let response = "";
  let number = picked ? Number(picked.textContent) : item.numbers[0];
  if (decision === "approve") {
    if (!picked) { fail(t("Pick the number the login page shows.")); return; }
    if (!ocra.PIN_PATTERN.test(pin)) { fail(t("Enter your PIN: 4 to 8 digits.")); return; }
    response = await ocraResponse(account, item.question, pin, withdrawal(item) ? item : null);
  }
  article.querySelector("input.pin").value = "";
  article.dataset.busy = "1";
  const message = { decision, number, response, transaction: item.transaction };
  if (withdrawal(item)) {  // the answer names what was shown, so the server refuses it for any other
    Object.assign(message, { amount: item.amount, destination: item.destination, destination_digits: item.destination_digits });
  }
  let reply;
  try {
    reply = await api(account.server, "/answer", await protocol.signed(account.deviceKey, message));
  } catch (e) {
    delete article.dataset.busy;
    fail(t("The server could not be reached. Use “Get a response” and type it on the login page."));
    return;
  }
  article.remove();
  state.requests.delete(item.transaction);
  show("requests", state.requests.size > 0);
  if (reply.status === 200) {
    say(t("Approved"));
  } else if (decision === "decline" && reply.status === 403) {
    say(t("Declined"));
  } else if (reply.status === 423) {
    fail(t("The account is locked: contact the help desk."));
  } else if (reply.status === 401 && reply.data && Number.isInteger(reply.data.tries_left) && reply.data.tries_left > 0) {
    // a wrong PIN the request survives: it shows again at the next poll
    const tries = { n: reply.data.tries_left };
    fail(withdrawal(item)
      ? t("The withdrawal was refused: wrong number or PIN, or its amount or destination was changed on the way. Tries left for this request: {n}.", tries)
      : t("The login failed: wrong number or PIN. Tries left for this request: {n}.", tries));
  } else if (reply.status === 401) {
    fail(withdrawal(item)
      ? t("The withdrawal was refused: wrong number or PIN, or its amount or destination was changed on the way.")
      : t("The login failed: wrong number or PIN."));
  } else {
    fail(problem(reply.data, t("The login could not be answered: it may have expired.")));
  }
}

// ---- the offline response

function openRespond(account) {
  state.responding = account;
  $("#respond-who").textContent = t("For {who}.", { who: account.user + " (" + account.serial + ")" });
  $("#response").textContent = "";
  $("#respond-amount").value = ""; $("#respond-destination").value = "";
  show("respond", true);
  $("#respond-pin").focus();
}

async function respond(event) {
  event.preventDefault();
  const account = state.responding;
  if (!account) { return; }
  const pin = $("#respond-pin").value, challenge = $("#respond-challenge").value.replace(/\s/g, "");
  if (!ocra.PIN_PATTERN.test(pin)) { fail(t("The PIN must be 4 to 8 digits.")); return; }
  if (!/^\d{6}$/.test(challenge)) { fail(t("The challenge has 6 digits.")); return; }
  let values = null;
  if ($("#respond-withdrawal").checked) {  // each field keyed on its own, as on the token
    values = { amount: $("#respond-amount").value.replace(/\s/g, ""), destination_digits: $("#respond-destination").value.replace(/\s/g, "") };
    if (!/^[0-9]{1,12}$/.test(values.amount) || !Number(values.amount)) { fail(t("The amount is 1 to 12 digits, without separators.")); return; }
    if (!/^[0-9]{1,8}$/.test(values.destination_digits)) { fail(t("The destination account digits are 1 to 8 digits.")); return; }
  }
  try {
    $("#response").textContent = await ocraResponse(account, challenge, pin, values);
    $("#respond-pin").value = "";
    say(t(values ? "Type this signature on the withdrawal page." : "Type this response on the login page."));
  } catch (e) {
    fail(t("No response could be computed: {why}", { why: e.message }));
  }
}

// ---- Web Push: only a hint to poll now; the payload says nothing more

async function subscribePush(account) {
  try {
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) { return; }
    const key = await api(account.server, "/push/key");
    if (key.status !== 200 || !key.data.public_key) { return; }
    const reg = await navigator.serviceWorker.ready;
    const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: protocol.unb64u(key.data.public_key) });
    const json = sub.toJSON();
    await api(account.server, "/push/subscribe", await protocol.signed(account.deviceKey,
      { auth: json.keys.auth, device: account.serial, endpoint: sub.endpoint, p256dh: json.keys.p256dh, poll: Math.floor(Date.now() / 1000) }));
  } catch (e) { /* no push service here: polling is enough */ }
}

// ---- start

// /mobile/#activate=CODE, the portal's QR code opened by the phone's camera: activate on this server.
function activateFromAddress() {
  const link = activationLink(location.href);
  if (!link) { return false; }
  history.replaceState(null, "", location.pathname);  // the code leaves the address bar and history
  activate(link.server, link.code);
  return true;
}

function start() {
  translatePage();
  $("#add").addEventListener("click", () => { show("add-account", true); show("choose-pin", false); $("#code").focus(); });
  $("#scan").addEventListener("click", scan);
  $("#add-form").addEventListener("submit", (e) => { e.preventDefault(); activate($("#server").value, $("#code").value); });
  $("#pin-form").addEventListener("submit", finishActivation);
  $("#respond-form").addEventListener("submit", respond);
  $("#respond-withdrawal").addEventListener("change", (e) => {
    show("respond-signing", e.target.checked);
    $("#respond-amount").required = $("#respond-destination").required = e.target.checked;
  });
  $("#respond-close").addEventListener("click", () => { show("respond", false); state.responding = null; });
  $("#server").value = location.origin;
  if ("serviceWorker" in navigator) {
    // the worker's own words (its notification) in the app's language
    navigator.serviceWorker.register("sw.js?lang=" + lang, { scope: "./" }).catch(() => {});
    navigator.serviceWorker.addEventListener("message", (e) => { if (e.data === "poll") { pollAll(); } });
  }
  document.addEventListener("visibilitychange", pollAll);
  window.addEventListener("hashchange", activateFromAddress);  // a QR code opened while the app was open
  loadAccounts().then(() => {
    if (!activateFromAddress() && state.accounts.length === 0) { show("add-account", true); }
    pollAll();
    setInterval(pollAll, 5 * POLL_MS);  // a loop that ended just as the app came back into view starts again
  });
}

start();

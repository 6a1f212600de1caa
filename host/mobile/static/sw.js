// OpenDSC Mobile's service worker: the app's files come from this cache, so the
// app opens and computes responses offline; the API always goes to the
// network. dsc serve writes the files' content hash into VERSION, so a changed
// app replaces the cache. A push only wakes the app: it carries no secret.
"use strict";
const VERSION = "__VERSION__";
const CACHE = "opendsc-mobile-" + VERSION;
const FILES = ["./", "app.js", "accounts.js", "i18n.js", "ocra.js", "signing.js", "protocol.js", "app.css",
               "manifest.webmanifest", "icon.svg", "icon-192.png", "icon-512.png"];
const OPTIONAL = ["vendor/jsQR.js"];  // the camera's decoder: a server without it still serves the app
// The notification's words, in the app's language (app.js registers sw.js?lang=).
const LANG = new URL(location.href).searchParams.get("lang") === "ja" ? "ja" : "en";
const WAITING = { en: "A login is waiting for your approval.", ja: "承認待ちのログインがあります。" };

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE)
    .then((cache) => cache.addAll(FILES).then(() => Promise.all(OPTIONAL.map((f) => cache.add(f).catch(() => null)))))
    .then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith("opendsc-mobile-") && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || url.pathname.includes("/mobile/api/")) {
    return;  // the API and other servers: the network, never a cache
  }
  // The app's own files: the cache first (offline), the network for anything else.
  event.respondWith(caches.match(event.request, { ignoreSearch: true })
    .then((hit) => hit || fetch(event.request)));
});

self.addEventListener("push", (event) => {
  event.waitUntil(self.clients.matchAll({ type: "window" }).then((windows) => {
    windows.forEach((w) => w.postMessage("poll"));
    if (windows.some((w) => w.visibilityState === "visible")) { return undefined; }
    return self.registration.showNotification("OpenDSC Mobile", {
      body: WAITING[LANG], tag: "login-waiting", renotify: true, icon: "icon-192.png" });
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(self.clients.matchAll({ type: "window" }).then((windows) => {
    const open = windows.find((w) => new URL(w.url).pathname.startsWith(new URL(self.registration.scope).pathname));
    return open ? open.focus() : self.clients.openWindow(self.registration.scope);
  }));
});

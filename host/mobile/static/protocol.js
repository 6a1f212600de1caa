// The app's side of the protocol in docs/mobile.md: key agreement at
// activation, the PIN's one encrypted trip, and signed messages. Every key is
// a non-extractable WebCrypto key: page script can use it, never read it.

const enc = new TextEncoder();
const ECDH = { name: "ECDH", namedCurve: "P-256" };
const ECDSA = { name: "ECDSA", namedCurve: "P-256" };

export function b64u(bytes) {
  let s = "";
  for (const b of new Uint8Array(bytes)) { s += String.fromCharCode(b); }
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function unb64u(text) {
  const s = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) { out[i] = s.charCodeAt(i); }
  return out;
}

// What the server signs over: JSON with sorted keys and no spaces, the bytes of
// Python's json.dumps(sort_keys=True, separators=(",", ":")) for our flat messages,
// whose ensure_ascii writes every character past "~" (a destination's text may
// have some) as \uXXXX of its UTF-16 units, lowercase.
export function canonical(obj) {
  const sorted = {};
  for (const k of Object.keys(obj).sort()) { sorted[k] = obj[k]; }
  return JSON.stringify(sorted).replace(/[\u007f-\uffff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

// The two key pairs an activation starts with; only the public halves can be exported.
export async function newKeys() {
  const ecdh = await crypto.subtle.generateKey(ECDH, false, ["deriveBits"]);
  const device = await crypto.subtle.generateKey(ECDSA, false, ["sign", "verify"]);
  return { ecdh, device };
}

export async function publicRaw(pair) {
  return b64u(await crypto.subtle.exportKey("raw", pair.publicKey));
}

// HKDF-SHA256 over the ECDH secret: okm[0:32] is the OCRA key, okm[32:64] the PIN transport key.
export async function derive(ecdh, serverPublic, activation, suiteHash) {
  const theirs = await crypto.subtle.importKey("raw", unb64u(serverPublic), ECDH, false, []);
  const shared = await crypto.subtle.deriveBits({ name: "ECDH", public: theirs }, ecdh.privateKey, 256);
  const mine = new Uint8Array(await crypto.subtle.exportKey("raw", ecdh.publicKey));
  const salt = await crypto.subtle.digest("SHA-256", concat(mine, unb64u(serverPublic)));
  const ikm = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveBits"]);
  const okm = new Uint8Array(await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt, info: enc.encode("OpenDSC mobile v1 activation " + activation) }, ikm, 512));
  const ocraKey = await crypto.subtle.importKey("raw", okm.slice(0, 32), { name: "HMAC", hash: suiteHash }, false, ["sign"]);
  const pinKey = await crypto.subtle.importKey("raw", okm.slice(32, 64), "AES-GCM", false, ["encrypt"]);
  okm.fill(0);
  return { ocraKey, pinKey };
}

// b64u(nonce || AES-GCM(pin key, SHA-1(PIN), aad = "OpenDSC mobile v1 pin " + id)).
export async function sealPin(pinKey, activation, pin) {
  const hash = await crypto.subtle.digest("SHA-1", enc.encode(pin));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: enc.encode("OpenDSC mobile v1 pin " + activation) }, pinKey, hash);
  return b64u(concat(iv, new Uint8Array(sealed)));
}

// {message, signature}: the canonical text and its P-256 signature (IEEE P1363, 64 bytes).
export async function signed(deviceKey, obj) {
  const message = canonical(obj);
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, deviceKey.privateKey, enc.encode(message));
  return { message, signature: b64u(sig) };
}

function concat(a, b) {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

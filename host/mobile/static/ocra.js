// OATH OCRA (RFC 6287) in WebCrypto: the same responses as the hardware token
// and the verifier (host/ocra.py, firmware/dsc/ocra.py). The app needs only
// suites with a question and a PIN, such as OCRA-1:HOTP-SHA256-8:QN06-PSHA1;
// a suite with a counter, session or time step is refused.

const HASHES = { SHA1: "SHA-1", SHA256: "SHA-256", SHA512: "SHA-512" };
const Q_BYTES = 128;

export function parseSuite(text) {
  const m = /^OCRA-1:HOTP-(SHA1|SHA256|SHA512)-(\d{1,2}):Q([NAH])(\d\d)(?:-P(SHA1|SHA256|SHA512))?$/.exec(text);
  if (!m) { throw new Error("unsupported suite " + text); }
  const digits = Number(m[2]);
  if (digits < 4 || digits > 10) { throw new Error("unsupported suite " + text); }
  return { text, hash: HASHES[m[1]], digits, format: m[3], length: Number(m[4]),
           pinHash: m[5] ? HASHES[m[5]] : null };
}

// The question's bytes before their zero padding: QN is decimal turned into hex,
// an odd count of hex digits gaining a trailing "0"; QH is hex, the same; QA is ASCII.
export function questionBytes(suite, question) {
  if (typeof question !== "string" || question.length < 4 || question.length > suite.length) {
    throw new Error("the challenge must have 4 to " + suite.length + " characters");
  }
  let hex;
  if (suite.format === "N") {
    if (!/^\d+$/.test(question)) { throw new Error("the challenge must be digits"); }
    hex = BigInt(question).toString(16);
  } else if (suite.format === "H") {
    if (!/^[0-9a-fA-F]+$/.test(question)) { throw new Error("the challenge must be hex digits"); }
    hex = question;
  } else {
    if (!/^[\x20-\x7e]+$/.test(question)) { throw new Error("the challenge must be printable ASCII"); }
    return new TextEncoder().encode(question);
  }
  if (hex.length % 2) { hex += "0"; }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) { out[i] = parseInt(hex.substr(2 * i, 2), 16); }
  return out;
}

// A PIN as the token's keypad takes it (firmware/dsc/config.py, check_pin): 4 to 8 digits 0-9.
export const PIN_PATTERN = /^[0-9]{4,8}$/;

// The data input: suite, 0x00, Q padded to 128 bytes, then the PIN's hash.
export async function dataInput(suite, question, pin) {
  const head = new TextEncoder().encode(suite.text);
  const q = questionBytes(suite, question);
  let tail = new Uint8Array(0);
  if (suite.pinHash) {
    if (!PIN_PATTERN.test(pin)) { throw new Error("the PIN must be 4 to 8 digits"); }
    tail = new Uint8Array(await crypto.subtle.digest(suite.pinHash, new TextEncoder().encode(pin)));
  }
  const msg = new Uint8Array(head.length + 1 + Q_BYTES + tail.length);
  msg.set(head, 0);
  msg.set(q, head.length + 1);  // the separator byte and the padding stay zero
  msg.set(tail, head.length + 1 + Q_BYTES);
  return msg;
}

// The response for an HMAC CryptoKey (non-extractable: the app never sees its bytes).
export async function response(key, suite, question, pin) {
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, await dataInput(suite, question, pin)));
  const offset = mac[mac.length - 1] & 0x0f;
  const value = ((mac[offset] & 0x7f) * 2 ** 24) + (mac[offset + 1] << 16) + (mac[offset + 2] << 8) + mac[offset + 3];
  return String(value % 10 ** suite.digits).padStart(suite.digits, "0");
}

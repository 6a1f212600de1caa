// Transaction signing (dynamic linking): the OCRA question that binds a
// withdrawal's amount and destination into the response. It follows
// firmware/dsc/signing.py, the one rule for the token, the verifier and the
// phone; docs/protocol.md, "Signing", gives the layout and test vectors.
//
//   suiteFor("OCRA-1:HOTP-SHA256-8:QN06-PSHA1") -> "OCRA-1:HOTP-SHA256-8:QA26-PSHA1"
//   question("123456", 150000, "4321")         -> "123456" + "000000150000" + "00004321"

export const CHALLENGE_DIGITS = 6;
export const AMOUNT_DIGITS = 12;
export const DESTINATION_DIGITS = 8;
const QUESTION = "QA" + (CHALLENGE_DIGITS + AMOUNT_DIGITS + DESTINATION_DIGITS);
export const AMOUNT_MAX = 10 ** AMOUNT_DIGITS - 1;  // below 2**53: exact as a JS number

function digits(text, low, high, what) {
  if (typeof text !== "string" || text.length < low || text.length > high || !/^[0-9]*$/.test(text)) {
    throw new Error(what + " must be " + low + " to " + high + " digits");
  }
  return text;
}

// The amount (a number, or the digits keyed) as its 12-digit field; 1 to AMOUNT_MAX.
export function amountDigits(amount) {
  if (typeof amount === "string") { amount = Number(digits(amount, 1, AMOUNT_DIGITS, "amount")); }
  if (!Number.isInteger(amount) || amount < 1 || amount > AMOUNT_MAX) {
    throw new Error("amount must be 1 to " + AMOUNT_MAX);
  }
  return String(amount).padStart(AMOUNT_DIGITS, "0");
}

// The digits a user keys for a destination: its last digits, 1 to 8 of them.
export function destinationDigits(text) { return digits(text, 1, DESTINATION_DIGITS, "destination"); }

// The 26-digit QA question for a challenge, an amount and a destination's digits.
export function question(challenge, amount, destination) {
  return digits(challenge, CHALLENGE_DIGITS, CHALLENGE_DIGITS, "challenge") + amountDigits(amount)
    + destinationDigits(destination).padStart(DESTINATION_DIGITS, "0");
}

// The signing suite of a device whose login suite is `loginSuite`: its question
// replaced by QA26, everything else kept, so a signature never passes as a login.
export function suiteFor(loginSuite) {
  const parts = loginSuite.split(":");
  if (parts.length !== 3) { throw new Error("suite must look like OCRA-1:HOTP-SHA1-6:QN08"); }
  const items = parts[2].split("-");
  if (!items.some((item) => item.startsWith("Q"))) { throw new Error("suite needs a question QN, QA or QH with 2 digits"); }
  return parts[0] + ":" + parts[1] + ":" + items.map((item) => (item.startsWith("Q") ? QUESTION : item)).join("-");
}

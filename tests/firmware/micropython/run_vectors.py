# Run OCRA cases through the firmware's dsc.ocra under MicroPython.
#
#   micropython run_vectors.py FIRMWARE_DIR CASES_JSON
#
# CASES_JSON is tests/vectors/rfc6287.json ({"vectors": [...]}) or a plain list
# of cases with the same fields (suite, key_hex, question, counter, pin,
# pin_hash_hex, session, timestamp, expected; missing fields mean None). The
# cleartext pin is used when given, so the firmware's PIN hashing is exercised.
# Prints one line per case:  "<index> ok <response>", "<index> FAIL <response>
# <expected>", "<index> = <response>" (no expected value) or "<index> ERROR <text>".
import sys
import json
from binascii import unhexlify

sys.path.insert(0, sys.argv[1])
from dsc import ocra

with open(sys.argv[2]) as f:
    data = json.load(f)
cases = data["vectors"] if isinstance(data, dict) else data

suites = {}
for i, case in enumerate(cases):
    try:
        text = case["suite"]
        if text not in suites:
            suites[text] = ocra.Suite(text)
        pin_hash = case.get("pin_hash_hex") if case.get("pin") is None else None
        got = suites[text].response(
            unhexlify(case["key_hex"]),
            case["question"],
            counter=case.get("counter"),
            pin=case.get("pin"),
            pin_hash=unhexlify(pin_hash) if pin_hash else None,
            session=case.get("session"),
            timestamp=case.get("timestamp"),
        )
    except Exception as e:
        print(i, "ERROR", type(e).__name__, e)
        continue
    expected = case.get("expected")
    if expected is None:
        print(i, "=", got)
    elif got == expected:
        print(i, "ok", got)
    else:
        print(i, "FAIL", got, expected)
print("done", len(cases))

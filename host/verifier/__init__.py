"""The OpenDSC verifier: the login service that issues challenges and judges responses.

- service.Verifier: the one object the CLI and the HTTP service use, composed of
  users, devices, challenges, sharing and audit (one module each);
- kinds/: one class per kind of device (token, code cards, temporary passcode);
- policy: the deployment's numbers, validated; lockout: failed-login counting;
- withdrawals: limits by device kind; cards: code card grids and printing;
- store: tables and migrations; keystore: secrets sealed under rotating master keys;
- passwords: scrypt; inputs: what is accepted from outside; errors: VerifierError.
"""

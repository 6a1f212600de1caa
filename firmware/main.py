"""Firmware entry point on every board: run the token (see app.py)."""

import app

app.main()

"""The OpenDSC simulator: the real firmware core on CPython or MicroPython, with a serial link."""

RUNTIMES = ("cpython", "micropython")  # dsc sim --runtime

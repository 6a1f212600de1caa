"""The OpenDSC simulator: the real firmware core on CPython or MicroPython, with a serial link."""

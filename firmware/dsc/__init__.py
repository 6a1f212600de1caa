"""OpenDSC firmware core: portable between MicroPython and CPython. Never imports a board."""

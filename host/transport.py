"""Open the token's serial link: a device path or any pyserial URL (socket://, loop://, rfc2217://)."""


class HostError(Exception):
    """An error to report to the user as one line (no traceback)."""


def open_port(port, timeout=5.0):
    import serial  # pyserial; imported here so `dsc ocra` and `dsc sim` start fast

    try:
        return serial.serial_for_url(port, baudrate=115200, timeout=timeout, write_timeout=timeout)
    except ValueError as e:
        raise HostError("cannot open %s: %s" % (port, e))
    except serial.SerialException as e:
        reason = str(e)
        if "No such file" in reason or "could not open port" in reason:
            reason = "no such port"
        elif "Connection refused" in reason or "Errno 111" in reason:
            reason = "connection refused (is the token or `dsc sim` running?)"
        raise HostError("cannot open %s: %s" % (port, reason))

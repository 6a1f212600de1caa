"""DS3231 real-time clock on I2C: the token's clock for time-based (T) suites.

The chip keeps UTC in BCD registers 0x00-0x06 (seconds, minutes, hours in 24 h
mode, weekday, date, month with the century in bit 7, year 00-99) and runs on
its coin cell while the token is off. Status register 0x0F bit 7 (OSF) says the
oscillator stopped at some point (first power-up, a dead cell): the time is then
not to be trusted until it is set again (DS3231 datasheet, "Status Register").

Dates are converted with integer arithmetic of our own, not time.mktime: the
ports disagree on the epoch (2000 or 1970) and on mktime's range.
"""

TIME_REG = 0x00
STATUS_REG = 0x0F
OSF = 0x80
CENTURY = 0x80
EPOCH_MIN = 946684800  # 2000-01-01 00:00:00 UTC, the chip's first year
EPOCH_MAX = 7258118399  # 2199-12-31 23:59:59 UTC: years 00-99 and the century bit


class DS3231:
    def __init__(self, i2c, addr=0x68):
        self.i2c = i2c
        self.addr = addr
        self._regs = bytearray(7)

    def lost(self):
        """True while the time is not trustworthy (the oscillator stopped since it was set)."""
        return bool(self.i2c.readfrom_mem(self.addr, STATUS_REG, 1)[0] & OSF)

    def read(self):
        """Unix seconds (UTC) from the time registers."""
        r = self.i2c.readfrom_mem(self.addr, TIME_REG, 7)
        second = _bcd(r[0] & 0x7F)
        minute = _bcd(r[1] & 0x7F)
        hour = _bcd(r[2] & 0x3F)  # 24-hour mode: bit 6 clear
        day = _bcd(r[4] & 0x3F)
        month = _bcd(r[5] & 0x1F)
        year = 2000 + _bcd(r[6]) + (100 if r[5] & CENTURY else 0)
        return days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second

    def write(self, epoch):
        """Set the time to `epoch` (Unix seconds, UTC) and clear OSF: the time is good again."""
        if not EPOCH_MIN <= epoch <= EPOCH_MAX:
            raise ValueError("the DS3231 holds 2000 to 2199 only")
        days, rest = divmod(epoch, 86400)
        year, month, day = civil_from_days(days)
        r = self._regs
        r[0] = _to_bcd(rest % 60)
        r[1] = _to_bcd(rest // 60 % 60)
        r[2] = _to_bcd(rest // 3600)  # 24-hour mode
        r[3] = (days + 3) % 7 + 1  # 1 = Monday (1970-01-01 was a Thursday)
        r[4] = _to_bcd(day)
        r[5] = _to_bcd(month) | (CENTURY if year >= 2100 else 0)
        r[6] = _to_bcd(year % 100)
        self.i2c.writeto_mem(self.addr, TIME_REG, r)
        status = self.i2c.readfrom_mem(self.addr, STATUS_REG, 1)[0]
        self.i2c.writeto_mem(self.addr, STATUS_REG, bytes((status & ~OSF & 0xFF,)))


def _bcd(b):
    return (b >> 4) * 10 + (b & 0x0F)


def _to_bcd(n):
    return (n // 10) << 4 | n % 10


def days_from_civil(year, month, day):
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    if month <= 2:
        year -= 1
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(days):
    """(year, month, day) of a day count since 1970-01-01; the inverse of days_from_civil."""
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year, month, day

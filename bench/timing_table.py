"""The table the start-up benchmarks print: each row's seconds as a ratio to a
baseline measured in the same run, and whether it meets a target."""


def print_table(title, rows, target_s):
    """rows: [(name, seconds)], the first being the baseline."""
    base = rows[0][1]
    print("\n" + title)
    print("%-32s %10s %10s %8s" % ("what", "seconds", "x baseline", "target"))
    for i, (name, secs) in enumerate(rows):
        target = "" if i == 0 else ("met" if secs < target_s else "MISSED")
        print("%-32s %10.3f %10.1f %8s" % (name, secs, secs / base, target))
    print("target: under %.1f s" % target_s)

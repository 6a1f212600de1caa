"""Run every bench/bench_*.py in name order (each module's main()) and print its table.

    python bench/run.py [NAME ...]      NAME filters, e.g. `ocra` for bench_ocra.py

bench_goals.py (`goals`), run last, prints one table with every goal of issue 18
(docs/performance.md), privacyIDEA 3.14 side by side (make bench installs it first).
bench_http.py (`http`) drives `dsc serve` with wrk and bench/http_validate.lua,
on SQLite and on a throwaway PostgreSQL; without wrk it says so and is skipped.
bench_mobile.py (`mobile`) times a phone's approval against a token's login in
the library, then a login in Chromium; without Chromium or Playwright, or before
the login page's approval exists, it says so and skips the browser part.
"""

import glob
import importlib.util
import os
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    wanted = (sys.argv[1:] if argv is None else argv)
    # bench_goals.py last: its table of every goal of issue 18 ends the output
    paths = sorted(glob.glob(os.path.join(BENCH, "bench_*.py")), key=lambda p: (p.endswith("bench_goals.py"), p))
    if wanted:
        paths = [p for p in paths if any(w in os.path.basename(p) for w in wanted)]
    for path in paths:
        name = os.path.splitext(os.path.basename(path))[0]
        print("=" * 20, name, "=" * 20)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        t0 = time.perf_counter()
        module.main()
        print("(%s took %.1f s)\n" % (name, time.perf_counter() - t0))
    if not paths:
        print("no bench/bench_*.py matched")


if __name__ == "__main__":
    main()

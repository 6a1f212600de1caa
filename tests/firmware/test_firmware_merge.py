"""The bundles' merge of the core modules loaded at boot (scripts/firmware_merge.py):
each member is still the same module to whoever imports it, in any order, and a
merge that would change what a name means is refused."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import firmware_merge  # noqa: E402

MICROPYTHON = Path(sys.executable).parent / "micropython"


def sources(**replaced):
    """The members' real sources, some replaced by the test's."""
    def read(path):
        member = path.split("/")[1][:-3]
        return replaced.get(member) or (ROOT / "firmware" / path).read_text()
    return read


@pytest.mark.parametrize("first", ["dsc.token", "dsc.storage", "dsc.config"])
def test_every_member_is_one_module_whichever_is_imported_first(release_bundle, first):
    if not MICROPYTHON.exists():
        pytest.skip("no micropython next to this Python: run make setup")
    script = (
        "import sys\nsys.path.insert(0, %r)\n"
        "import %s\n"
        "from dsc.storage import Storage, Config, DirFS\n"
        "from dsc import config as cfg, ocra, crypto, ui\n"
        "from dsc.token import Token, Storage as TS\n"
        "import dsc.token\n"
        "assert Storage is TS and Config is cfg.Config and ocra.Suite is dsc.token.ocra.Suite\n"
        "assert ui.UI is dsc.token.UI and cfg.KEY_MAX == 64 and crypto.equal(b'a', b'a')\n"
        "c = Config('AB12')\nassert cfg.Config.decode(c.encode()).serial == 'AB12'\n"
        "print('one module')\n" % (str(release_bundle), first))
    out = subprocess.run([str(MICROPYTHON), "-c", script], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "one module", out.stdout + out.stderr


def test_two_members_binding_one_name_to_different_things_are_refused():
    ui = (ROOT / "firmware" / "dsc" / "ui.py").read_text() + "\nKEY_MAX = 32\n"  # config's is 64
    with pytest.raises(ValueError, match="dsc/config.py and dsc/ui.py both bind KEY_MAX"):
        firmware_merge.merged_sources(sources(ui=ui))


def test_a_member_reading_a_global_that_only_another_binds_is_refused():
    # ui reading KEY_MAX without importing it fails on the board; merged, it would silently see config's
    ui = (ROOT / "firmware" / "dsc" / "ui.py").read_text() + "\ndef longest():\n    return KEY_MAX\n"
    with pytest.raises(ValueError, match="dsc/ui.py reads KEY_MAX, which dsc/config.py binds"):
        firmware_merge.merged_sources(sources(ui=ui))


def test_equal_constants_and_shared_imports_merge():
    merged = firmware_merge.merged_sources(sources())
    assert set(merged) == {firmware_merge.path(m) for m in firmware_merge.MERGED}
    text = merged["dsc/token.py"]
    assert text.splitlines().count("DIGITS = '0123456789'") == 2, "config's and ui's equal constant, both kept"
    assert not [line for line in text.splitlines() if line.startswith("from dsc")], \
        "imports of members become names (a function's own import of sha or protocol stays)"

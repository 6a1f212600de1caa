"""The verifier: one object that holds the database, the master keys and the
policy, with each concern in its own module (users, devices, challenges,
sharing, audit). The command line and the HTTP service call these methods;
no policy lives in them.
"""

import os
import time

from sqlalchemy.exc import OperationalError

from host import ocra
from host.verifier import store
from host.verifier.apikeys import ApiKeys
from host.verifier.audit import AuditLog
from host.verifier.challenges import Challenges
from host.verifier.devices import Devices
from host.verifier.errors import VerifierError
from host.verifier.inputs import username as normal_username  # noqa: F401  (used by the CLI)
from host.verifier.keystore import Keystore, VaultError, new_key, write_keyring
from host.verifier.lockout import Lockout
from host.verifier.maintenance import Maintenance
from host.verifier.mobile_activation import MobileActivation
from host.verifier.mobile_approval import MobileApproval
from host.verifier.mobile_push import MobilePush
from host.verifier.policy import Policy, load_policy  # noqa: F401
from host.verifier.sharing import Sharing
from host.verifier.users import Users
from host.verifier.withdrawals import Withdrawals


def init_db(db, master_key_file, clock=time.time):
    """Create or migrate the schema; a new database gets a new master key file
    (mode 0600). A database that exists already needs its own key file: a new
    one is never written for it. Returns the schema version found."""
    url = store.url_for(db)
    created_key = False
    if not os.path.exists(master_key_file):
        if _initialised(db):
            raise VaultError("no master key file at %s, and the database %s is initialised with another key"
                             % (master_key_file, db))
        write_keyring(master_key_file, {1: new_key()}, new=True)
        created_key = True
    created_db = url.startswith("sqlite") and store.create_sqlite_file(url[len("sqlite:///"):])
    try:
        keys = Keystore(master_key_file)
        engine = store.engine_for(db, create=True)
        try:
            with engine.begin() as conn:
                found = store.migrate(conn)
                keys.install_first_key(conn, clock())
                keys.check(conn)
        except OperationalError as e:
            raise store.connect_error(db, e)
        finally:
            engine.dispose()
    except BaseException:
        if created_key:
            os.remove(master_key_file)
        if created_db:
            _remove_sqlite(url[len("sqlite:///"):])
        raise
    return found


def _initialised(db):
    """Whether `db` holds a schema: a SQLite file that exists, or a database at a URL
    (which `dsc db init` never creates: its server must have it already)."""
    try:
        engine = store.engine_for(db)
    except store.StoreError:
        if "://" in store.url_for(db) and not store.url_for(db).startswith("sqlite"):
            raise
        return False
    try:
        with engine.connect() as conn:
            return store.version(conn) > 0
    except OperationalError as e:
        raise store.connect_error(db, e)
    finally:
        engine.dispose()


def _remove_sqlite(path):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)


class Verifier(Users, Devices, Challenges, Sharing, Withdrawals, AuditLog, ApiKeys, Maintenance, MobileActivation,
               MobileApproval, MobilePush):
    def __init__(self, db, master_key_file, clock=time.time, policy=None):
        self.clock = clock
        self.policy = policy or Policy()
        self.lockout = Lockout(self.policy)
        self._suites = {}
        self.keys = Keystore(master_key_file)
        self.engine = store.engine_for(db)
        try:
            with self.engine.begin() as conn:
                found = store.version(conn)
                if found == 0:
                    raise VerifierError("no-database", "the database is not initialised (dsc db init)")
                if found != store.SCHEMA_VERSION:
                    raise VerifierError("old-database", "the database has schema %d; run dsc db init to migrate it" % found)
                self.keys.check(conn)
        except OperationalError as e:
            self.engine.dispose()
            raise store.connect_error(db, e)
        except BaseException:
            self.engine.dispose()
            raise

    def close(self):
        self.engine.dispose()

    def suite(self, text):
        """Parse each suite once (a verifier sees few distinct suites)."""
        suite = self._suites.get(text)
        if suite is None:
            suite = self._suites[text] = ocra.Suite(text)
        return suite

    def rotate_master_key(self):
        """Make a new master key current and re-seal every secret under it; safe
        while other verifier processes run (see keystore.Keystore.rotate)."""
        return self.keys.rotate(self.engine, self.clock())

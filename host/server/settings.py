"""What `dsc serve` runs with: the CLI's settings (DSC_DB, DSC_MASTER_KEY_FILE,
DSC_POLICY_FILE) plus the HTTP limits."""

import dataclasses
import os

DEFAULT_DB = "dsc.db"
DEFAULT_MASTER_KEY = "dsc-master.key"
MAX_BODY = 64 * 1024  # bytes; a login request is a few hundred


@dataclasses.dataclass(frozen=True)
class Settings:
    db: str = DEFAULT_DB
    master_key_file: str = DEFAULT_MASTER_KEY
    policy_file: str = ""
    max_body: int = MAX_BODY

    @classmethod
    def from_env(cls, env=None):
        env = os.environ if env is None else env
        return cls(db=env.get("DSC_DB", DEFAULT_DB),
                   master_key_file=env.get("DSC_MASTER_KEY_FILE", DEFAULT_MASTER_KEY),
                   policy_file=env.get("DSC_POLICY_FILE", ""))

    def env(self):
        """The settings as the environment a worker process reads them from."""
        return {"DSC_DB": self.db, "DSC_MASTER_KEY_FILE": self.master_key_file, "DSC_POLICY_FILE": self.policy_file}

    def open_verifier(self):
        """The verifier; a bad policy file, database or key ring raises one line."""
        from host.verifier import service

        policy = service.load_policy(self.policy_file) if self.policy_file else None
        return service.Verifier(self.db, self.master_key_file, policy=policy)

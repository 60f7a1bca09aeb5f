"""Where a secret lives: an environment variable or a file named in the configuration, never
the value itself. Read only when a connector needs it, so a missing secret fails the run that
uses it, with the variable or file named and no value shown."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from cs_sync.errors import AuthError

# Keys that would hold a secret's value. The configuration refuses them with a way out.
SECRET_KEYS = (
    "password",
    "security_token",
    "session_id",
    "private_key",
    "client_secret",
    "token",
    "api_key",
    "credentials",
    "webhook_url",
)
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Secret:
    """An environment variable or a file that holds a secret."""

    label: str  # the config key, e.g. "salesforce.password"
    env: str | None = None
    file: Path | None = None

    def read(self) -> str:
        if self.env:
            value = os.environ.get(self.env)
            if not value:
                raise AuthError(
                    f"{self.label}: environment variable {self.env} is not set or "
                    "empty; export it before running cs-sync"
                )
            return value
        if self.file is None:
            raise AuthError(f"{self.label}: set {self.label}_env or {self.label}_file")
        try:
            return self.file.read_text("utf-8").strip()
        except OSError as exc:
            raise AuthError(
                f"{self.label}: cannot read the secret file {self.file} "
                f"({exc.strerror}); check the path in {self.label}_file"
            ) from None

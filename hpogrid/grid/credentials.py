"""Files that look like credentials, by name or by content: never packed for the grid.

Content is read only from the first READ_LIMIT bytes of a file, so packing stays fast whatever the
scripts folder holds. Reasons name the kind of credential, never any of its content.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

READ_LIMIT = 1024 * 1024

# name patterns (matched case-insensitively against every part of a relative path) -> reason
NAMES: dict[str, tuple[str, ...]] = {
    "grid proxy or certificate": ("x509up_*", "*.pem", "*.p12", "*.pfx", "*.key", "*.proxy", "proxy", "*.keytab"),
    "ssh key": ("id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*"),
    "token": (
        "auth_token", "id_token*", "access_token*", "refresh_token*", "token", "*.token", "token.json", "*.jwt",
    ),
    "credentials file": ("*credential*", "*secret*", "rucio.cfg", "*.kdbx"),
    "netrc": ("netrc", ".netrc", "_netrc", "*.netrc"),
    "environment file": (".env", "*.env", ".env.*"),
}  # fmt: skip

_PRIVATE_KEY = rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
# content pattern -> reason; a file matching every pattern of an entry is a credential
CONTENT: tuple[tuple[str, tuple[bytes, ...]], ...] = (
    ("X.509 proxy (certificate and private key)", (rb"-----BEGIN CERTIFICATE-----", _PRIVATE_KEY)),
    ("private key", (_PRIVATE_KEY,)),
    ("GCP service-account key", (rb'"type"\s*:\s*"service_account"', rb'"private_key"\s*:')),
    ("AWS access key", (rb"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])",)),
    ("AWS secret key", (rb"(?i)aws_secret_access_key[\"']?\s*[=:]\s*[\"']?[A-Za-z0-9/+]{40}",)),
    ("Azure storage key", (rb"(?:AccountKey|SharedAccessKey)=[A-Za-z0-9+/]{20,}={0,2}",)),
    ("JWT token", (rb"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",)),
)
_COMPILED = tuple((reason, tuple(re.compile(p) for p in patterns)) for reason, patterns in CONTENT)


def reason_by_name(relative: str) -> str | None:
    """Why a path (relative to the scripts folder) looks like a credential by its name, or None."""
    for part in relative.lower().split("/"):
        for reason, patterns in NAMES.items():
            if any(fnmatch.fnmatchcase(part, p) for p in patterns):
                return f"{reason}, by name"
    return None


def reason_by_content(data: bytes) -> str | None:
    """Why some bytes hold a credential, or None."""
    for reason, patterns in _COMPILED:
        if all(p.search(data) for p in patterns):
            return f"{reason}, by content"
    return None


def credential_reason(path: Path, relative: str) -> str | None:
    """Why a file must not be packed because it looks like a credential, or None."""
    by_name = reason_by_name(relative)
    if by_name:
        return by_name
    try:
        with open(path, "rb") as handle:
            return reason_by_content(handle.read(READ_LIMIT))
    except OSError:
        return "cannot be read"

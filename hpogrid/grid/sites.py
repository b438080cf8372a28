"""`hpogrid sites`: grid queues (PanDA queues) from ATLAS CRIC, filtered (pure; the fetch is in gateway)."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

TYPES = ("analysis", "production", "unified")  # CRIC's queue types
COLUMNS = ("name", "status", "gpu", "type", "cloud", "site", "corecount", "maxrss", "maxtime")


def is_gpu(name: str, fields: dict) -> bool:
    resource = str(fields.get("resource_type") or "").lower()
    return "gpu" in resource or "GPU" in name.upper() or bool(fields.get("gpu") or fields.get("is_gpu"))


def queue_rows(
    queues: dict[str, dict],
    pattern: str | None = None,
    gpu_only: bool = True,
    online_only: bool = True,
    kinds: Sequence[str] = (),
) -> list[dict]:
    """The queues matching, as table rows; kinds: queue types to keep (all when empty)."""
    rows = []
    for name, fields in sorted(queues.items()):
        if pattern and not fnmatch.fnmatchcase(name.upper(), pattern.upper()):
            continue
        gpu = is_gpu(name, fields)
        status = str(fields.get("status") or "")
        if (gpu_only and not gpu) or (online_only and status != "online"):
            continue
        queue_type = str(fields.get("type") or "")
        if kinds and queue_type not in kinds:
            continue
        rows.append(
            {
                "name": name,
                "status": status,
                "gpu": gpu,
                "type": queue_type,
                "cloud": fields.get("cloud"),
                "site": fields.get("atlas_site") or fields.get("site"),
                "corecount": fields.get("corecount"),
                "maxrss": fields.get("maxrss"),
                "maxtime": fields.get("maxtime"),
            }
        )
    return rows

"""Free memory as the operating system reports it, read without torch.

Both the image readers (which must not import torch: the CLI checks inputs before it pays for
torch) and the memory planner of a run ask this.
"""

from __future__ import annotations

MEMINFO = "/proc/meminfo"


def available_ram(meminfo: str = MEMINFO) -> int | None:
    """Bytes of RAM available to a new process (Linux's MemAvailable), or None when the platform
    does not say."""
    try:
        with open(meminfo) as lines:
            for line in lines:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None

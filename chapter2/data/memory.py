"""How much memory there is, and refusing, in one line, what would need more.

A file's header can claim any size (an .npz array of shape (10**7, 120, 160, 3),
ten million catalog records): the loaders ask ``require_memory`` before they
allocate what a file claims, so a damaged or hostile file ends in one line
instead of an out-of-memory traceback or a machine brought to a crawl.
"""

import os

from chapter2.run.errors import InputError


def available_memory():
    """Bytes of memory available to a new allocation (MemAvailable on Linux)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def require_memory(nbytes, what):
    """Refuse, in one line, settings whose `what` needs more memory than there is."""
    available = available_memory()
    if nbytes > 0.8 * available:
        raise InputError(
            f"{what} needs about {amount(nbytes)} of memory; {amount(available)} is available"
        )


def amount(nbytes):
    """A number of bytes in GB (or MB, kB below a GB), for a message."""
    for unit, size in (("GB", 1e9), ("MB", 1e6)):
        if nbytes >= size:
            return f"{nbytes / size:,.1f} {unit}"
    return f"{nbytes / 1e3:,.1f} kB"

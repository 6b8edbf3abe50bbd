"""One thin module per Lambda function: decorators and one call into the package's logic.

Each handler module makes its imports inside ``with cold_start():``. A cold start allocates a few
hundred thousand objects (modules, classes, functions, pydantic's field and schema objects) that live
as long as the container, and the cyclic garbage collector, triggered by allocation counts, would walk
them again and again while they are made: ~30 ms (about a fifth) of each handler's import on Python
3.11 and 3.13, measured with the cold-import bench. So the collector is off during the import, and at
its end what the import made is frozen (``gc.freeze``: moved to the permanent generation, never walked
again, as the documentation recommends for long-lived startup state) before it is switched back on.
An invocation's own garbage is collected as before.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cold_start() -> Iterator[None]:
    """No garbage collection inside the block; afterwards the objects it made are frozen.

    The collector is switched back on only when it was on before (an embedding process's choice is
    kept), on an error too.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.enable()

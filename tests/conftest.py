"""Suite-wide: the longest modules are handed out first.

`make test` distributes whole modules over two workers (`--dist loadscope`, so a module's local stack
is built once), in collection order. A module marked `slow` that came last would run alone on one
worker while the other idles; run first, the short modules fill in around it.
"""

from __future__ import annotations

import pytest


def _module(item: pytest.Item) -> str:
    module = getattr(item, "module", None)
    return module.__name__ if module is not None else ""


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    slow = {_module(item) for item in items if item.get_closest_marker("slow")}

    def rank(item: pytest.Item) -> int:
        name = _module(item)
        return 0 if name in slow else 1 if name.startswith("tests.e2e.") else 2

    items.sort(key=rank)  # stable: the order within each rank stays as collected

"""`consent_sync.handlers.cold_start`: no garbage collection during a handler's import, its objects frozen after."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from consent_sync.handlers import cold_start


@pytest.fixture(autouse=True)
def _restore_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()
    else:
        gc.disable()


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_no_collection_runs_inside_and_what_it_made_is_frozen() -> None:
    gc.enable()
    gc.unfreeze()
    collections = []
    gc.callbacks.append(lambda phase, info: collections.append(phase))
    try:
        with cold_start():
            assert not gc.isenabled()
            made = [_Cycle() for _ in range(10_000)]  # far past the collector's allocation threshold
        assert collections == []
        assert gc.isenabled()
        assert gc.get_freeze_count() >= len(made)
        assert id(made[0]) not in {id(obj) for obj in gc.get_objects()}  # the collector no longer walks it
    finally:
        gc.callbacks.pop()


def test_a_collector_switched_off_before_stays_off_and_nothing_is_frozen() -> None:
    gc.disable()
    gc.unfreeze()
    with cold_start():
        assert not gc.isenabled()
    assert not gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_the_collector_comes_back_after_a_failed_import() -> None:
    gc.enable()
    with pytest.raises(ImportError), cold_start():
        raise ImportError("a broken handler module")
    assert gc.isenabled()


def test_every_handler_module_imports_inside_cold_start() -> None:
    handlers = Path(__file__).resolve().parents[3] / "functions" / "consent_sync" / "handlers"
    modules = sorted(p for p in handlers.glob("*.py") if p.name != "__init__.py")
    assert modules
    for module in modules:
        assert "\nwith cold_start():\n" in module.read_text(), module.name

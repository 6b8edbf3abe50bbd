"""The send-out gate's tests reuse the sync tests' world: accounts, linked contacts, outgoing events."""

from tests.integration.sync.conftest import outgoing, people, world

__all__ = ["outgoing", "people", "world"]

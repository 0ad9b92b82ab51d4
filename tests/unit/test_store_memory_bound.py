"""The memory tier counts what it holds, however large an entry's fields."""

from __future__ import annotations

from llmcache.stores.base import CacheEntry
from llmcache.stores.memory import MemoryStore


# ----- 5. the memory tier counts what it holds ----------------------------------------------------------------
def test_given_entries_with_huge_model_names_when_stored_in_memory_then_the_bound_holds() -> None:
    store = MemoryStore(1024 * 1024)
    for i in range(20):
        entry = CacheEntry.from_answer(
            b"{}", created_at=0, ttl=60, route="chat/completions", model="m" * 200_000, tokens=1
        )
        store.put(f"key{i}", entry)

    held = sum(len(e.model) + len(e.body) + len(e.route) + len(k) for k, e in store._entries.items())
    assert held <= store.max_bytes
    assert store.used_bytes <= store.max_bytes

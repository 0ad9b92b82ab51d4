"""DynamoDB tier (pynamodb): one GetItem per lookup, TTL attribute for cleanup, expiry checked on read.

DynamoDB's TTL deletes lazily (up to days later), so an item past its expiry is a miss here,
whatever the table still holds. Bodies above the inline limit live in S3; the item keeps a
pointer and a checksum, and a missing or corrupt object is a miss, never a wrong answer.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from typing import Any

from pynamodb.attributes import BinaryAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, PynamoDBException, UpdateError
from pynamodb.models import Model

from llmcache.constants import TABLE_PARTITION_KEY, TABLE_TTL_ATTRIBUTE
from llmcache.errors import BackendFailure
from llmcache.stores.base import CacheEntry, Hit
from llmcache.stores.s3 import S3BodyStore

ENTRY_PREFIX = "e#"
GENERATION_PREFIX = "g#"


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def make_item_model(table_name: str) -> type[Model]:
    """A pynamodb model bound to the configured table, made after settings are read (never at import)."""

    class CacheItem(Model):
        class Meta:
            pass

        pk = UnicodeAttribute(hash_key=True, attr_name=TABLE_PARTITION_KEY)
        # Whole seconds for DynamoDB's TTL sweeper; `expires_precise` is what reads compare.
        expires_at = NumberAttribute(null=True, attr_name=TABLE_TTL_ATTRIBUTE)
        expires_precise = NumberAttribute(null=True)
        created_at = NumberAttribute(null=True)
        body = BinaryAttribute(null=True, legacy_encoding=False)
        body_key = UnicodeAttribute(null=True)
        body_sha256 = UnicodeAttribute(null=True)
        body_size = NumberAttribute(null=True)
        route = UnicodeAttribute(null=True)
        model = UnicodeAttribute(null=True)
        tokens = NumberAttribute(null=True)
        content_type = UnicodeAttribute(null=True)
        # The usage split that prices a hit; absent in items stored before it (read as 0) and when 0.
        input_tokens = NumberAttribute(null=True)
        cached_input_tokens = NumberAttribute(null=True)
        output_tokens = NumberAttribute(null=True)
        generation = NumberAttribute(null=True)

    meta: Any = CacheItem.Meta
    meta.table_name = table_name
    meta.region = _region()
    # A cache must fail fast: a slow table costs every request its latency.
    meta.connect_timeout_seconds = 1
    meta.read_timeout_seconds = 2
    meta.max_retry_attempts = 1
    return CacheItem


class DynamoDbStore:
    name = "dynamodb"

    def __init__(self, table_name: str, bodies: S3BodyStore | None, inline_max_bytes: int) -> None:
        self.item_model: Any = make_item_model(table_name)
        self.bodies = bodies
        self.inline_max_bytes = inline_max_bytes

    def get(self, key: str, now: float) -> Hit | None:
        try:
            item = self.item_model.get(ENTRY_PREFIX + key)
        except DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise BackendFailure(self.name, "get", exc) from exc
        return self._hit_of(key, item, now)

    def get_many(self, keys: list[str], now: float) -> dict[str, Hit]:
        """One BatchGetItem per 100 keys (pynamodb splits and retries unprocessed keys)."""
        try:
            items = list(self.item_model.batch_get([ENTRY_PREFIX + k for k in keys]))
        except PynamoDBException as exc:
            raise BackendFailure(self.name, "get", exc) from exc
        found: dict[str, Hit] = {}
        for item in items:
            key = item.pk[len(ENTRY_PREFIX) :]
            hit = self._hit_of(key, item, now)
            if hit is not None:
                found[key] = hit
        return found

    def _hit_of(self, key: str, item: Any, now: float) -> Hit | None:
        expires = item.expires_precise or item.expires_at
        if expires is None or now >= float(expires):
            return None
        body, tier = self._body_of(key, item)
        if body is None:
            return None
        entry = CacheEntry(
            body=body,
            created_at=float(item.created_at or 0),
            expires_at=float(expires),
            route=item.route or "",
            model=item.model or "",
            tokens=int(item.tokens or 0),
            content_type=item.content_type or "application/json",
            input_tokens=int(item.input_tokens or 0),
            cached_input_tokens=int(item.cached_input_tokens or 0),
            output_tokens=int(item.output_tokens or 0),
        )
        return Hit(entry, tier)

    def _body_of(self, key: str, item: Any) -> tuple[bytes | None, str]:
        if item.body is not None:
            return item.body, self.name
        if not item.body_key or self.bodies is None:
            raise BackendFailure(self.name, "get", "item has neither an inline body nor a readable pointer")
        body = self.bodies.get(item.body_key)
        if body is None:
            return None, "s3"  # object gone (lifecycle, manual delete): a miss
        if hashlib.sha256(body).hexdigest() != item.body_sha256:
            raise BackendFailure("s3", "get", f"checksum mismatch for body of {key[:12]}")
        return body, "s3"

    def put(self, key: str, entry: CacheEntry) -> None:
        item = self._item_of(key, entry)
        try:
            item.save()
        except PynamoDBException as exc:
            raise BackendFailure(self.name, "put", exc) from exc

    def put_many(self, items: list[tuple[str, CacheEntry]]) -> None:
        """BatchWriteItem, 25 items a call (pynamodb splits the batch and retries what was left unprocessed)."""
        built = [self._item_of(key, entry) for key, entry in items]
        try:
            with self.item_model.batch_write() as batch:
                for item in built:
                    batch.save(item)
        except PynamoDBException as exc:
            raise BackendFailure(self.name, "put", exc) from exc

    def _item_of(self, key: str, entry: CacheEntry) -> Any:
        """The item for an entry; a body over the inline limit is put in S3 first and pointed to."""
        item = self.item_model(
            ENTRY_PREFIX + key,
            expires_at=math.ceil(entry.expires_at),
            expires_precise=entry.expires_at,
            created_at=entry.created_at,
            route=entry.route,
            model=entry.model,
            tokens=entry.tokens,
            content_type=entry.content_type,
            body_size=len(entry.body),
            **{name: count for name, count in entry.billed_tokens().items() if count},
        )
        if len(entry.body) > self.inline_max_bytes:
            if self.bodies is None:
                raise BackendFailure(self.name, "put", "body over the inline limit and no bucket configured")
            item.body_key = self.bodies.put(key, entry.body)
            item.body_sha256 = hashlib.sha256(entry.body).hexdigest()
        else:
            item.body = entry.body
        return item

    def delete(self, key: str) -> bool:
        try:
            item = self.item_model.get(ENTRY_PREFIX + key)
        except DoesNotExist:
            return False
        except PynamoDBException as exc:
            raise BackendFailure(self.name, "delete", exc) from exc
        try:
            item.delete()
        except PynamoDBException as exc:
            raise BackendFailure(self.name, "delete", exc) from exc
        if item.body_key and self.bodies is not None:
            self.bodies.delete(item.body_key)
        return item.expires_precise is not None and float(item.expires_precise) > time.time()

    # Flush generations live in the same table, one small item per partition (and per copy, see
    # generations.py). Eventually consistent reads: half the read units, and any replica can answer.
    def get_generations(self, names: list[str]) -> dict[str, int]:
        found = {n: 0 for n in names}
        try:
            for item in self.item_model.batch_get([GENERATION_PREFIX + n for n in names], consistent_read=False):
                found[item.pk[len(GENERATION_PREFIX) :]] = int(item.generation or 0)
        except PynamoDBException as exc:
            raise BackendFailure(self.name, "generation", exc) from exc
        return found

    def bump_generation(self, name: str) -> int:
        item = self.item_model(GENERATION_PREFIX + name)
        try:
            item.update(actions=[self.item_model.generation.add(1)])
        except PynamoDBException as exc:
            raise BackendFailure(self.name, "flush", exc) from exc
        return int(item.generation or 0)

    def raise_generation(self, name: str, value: int) -> None:
        model = self.item_model
        try:
            model(GENERATION_PREFIX + name).update(
                actions=[model.generation.set(value)],
                condition=model.generation.does_not_exist() | (model.generation < value),
            )
        except UpdateError as exc:
            if not _is_conditional_failure(exc):  # already at or above `value`: nothing to do
                raise BackendFailure(self.name, "flush", exc) from exc
        except PynamoDBException as exc:
            raise BackendFailure(self.name, "flush", exc) from exc


LEASE_PREFIX = "l#"


class DynamoDbLeases:
    """Cross-container single flight: a conditional put that succeeds for one caller until it expires."""

    name = "dynamodb"

    def __init__(self, store: DynamoDbStore) -> None:
        self.item_model = store.item_model

    def acquire(self, key: str, token: str, seconds: float) -> bool:
        now = time.time()
        model = self.item_model
        item = model(
            LEASE_PREFIX + key, body_key=token, expires_precise=now + seconds, expires_at=math.ceil(now + seconds)
        )
        try:
            item.save(condition=model.pk.does_not_exist() | (model.expires_precise < now))
        except PutError as exc:
            if _is_conditional_failure(exc):
                return False
            raise BackendFailure("dynamodb", "lease", exc) from exc
        except PynamoDBException as exc:
            raise BackendFailure("dynamodb", "lease", exc) from exc
        return True

    def held(self, key: str) -> bool:
        try:
            item = self.item_model.get(LEASE_PREFIX + key, consistent_read=True)
        except DoesNotExist:
            return False
        except PynamoDBException as exc:
            raise BackendFailure("dynamodb", "lease", exc) from exc
        return item.expires_precise is not None and float(item.expires_precise) > time.time()

    def release(self, key: str, token: str) -> None:
        model = self.item_model
        try:
            model(LEASE_PREFIX + key).delete(condition=model.body_key == token)
        except DeleteError as exc:
            if not _is_conditional_failure(exc):
                raise BackendFailure("dynamodb", "lease", exc) from exc
        except PynamoDBException as exc:
            raise BackendFailure("dynamodb", "lease", exc) from exc


def _is_conditional_failure(exc: PynamoDBException) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"

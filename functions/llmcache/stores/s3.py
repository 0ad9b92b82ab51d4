"""S3 holds answers too large for a DynamoDB item (400 KB), compressed, named by cache key."""

from __future__ import annotations

from typing import Any

from llmcache.constants import BUCKET_BODY_PREFIX
from llmcache.errors import BackendFailure


class S3BodyStore:
    def __init__(self, bucket: str, client: Any = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(connect_timeout=1, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"})
            self._client = boto3.client("s3", config=config)
        return self._client

    def put(self, key: str, body: bytes) -> str:
        object_key = BUCKET_BODY_PREFIX + key
        try:
            self.client.put_object(Bucket=self.bucket, Key=object_key, Body=body, ContentType="application/zlib")
        except Exception as exc:  # botocore raises many unrelated types; all mean "not stored"
            raise BackendFailure("s3", "put", exc) from exc
        return object_key

    def get(self, object_key: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=object_key)
            data: bytes = response["Body"].read()
            return data
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404", "NotFound"):
                return None
            raise BackendFailure("s3", "get", exc) from exc

    def delete(self, object_key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=object_key)
        except Exception as exc:
            raise BackendFailure("s3", "delete", exc) from exc

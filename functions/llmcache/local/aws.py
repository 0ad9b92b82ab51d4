"""Emulated AWS for the local run and the tests: moto in server mode on loopback.

`create_cache_resources` lays out the table and bucket exactly as the CDK storage construct does
(on-demand table, string partition key, TTL attribute, encryption at rest; bucket with default
encryption), so the code meets the same shape locally and deployed.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmcache.constants import TABLE_PARTITION_KEY, TABLE_TTL_ATTRIBUTE

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

    from llmcache.settings import Settings

DEFAULT_REGION = "us-east-1"
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


def is_loopback_endpoint(url: str | None) -> bool:
    if not url:
        return False
    from urllib.parse import urlsplit

    return (urlsplit(url).hostname or "") in _LOOPBACK_HOSTS


def emulated_aws_env(endpoint_url: str, region: str = DEFAULT_REGION) -> dict[str, str]:
    """The environment that points boto3/pynamodb at an emulator, with credentials that are not real."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        **DUMMY_CREDENTIALS,
    }


@dataclass
class MotoHandle:
    """A moto server on loopback that can be stopped and started again on the same port.

    moto keeps its state in the process, so a restart finds the tables and buckets it had:
    stopping is an outage, not a wipe.
    """

    host: str = "127.0.0.1"
    port: int = 0
    _server: ThreadedMotoServer | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> MotoHandle:
        if self._server is not None:
            return self
        import logging

        from moto.server import ThreadedMotoServer

        # werkzeug writes an access line per AWS call; the local run's console is for the gateway.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        server.start()
        self.port = server.get_host_and_port()[1]
        self._server = server
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()
            # werkzeug's shutdown leaves the listening socket open until closed.
            inner: Any = getattr(server, "_server", None)
            if inner is not None:
                inner.server_close()

    def restart(self) -> MotoHandle:
        self.stop()
        return self.start()


def start_moto(host: str = "127.0.0.1", port: int = 0) -> MotoHandle:
    return MotoHandle(host=host, port=port).start()


def _clients(endpoint_url: str | None, region: str) -> tuple[Any, Any]:
    import boto3

    kwargs: dict[str, Any] = {"region_name": region}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    return boto3.client("dynamodb", **kwargs), boto3.client("s3", **kwargs)


def create_table(dynamodb: Any, table: str) -> bool:
    """Create the cache table with the deployment's layout; False when it already exists."""
    try:
        dynamodb.create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": TABLE_PARTITION_KEY, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": TABLE_PARTITION_KEY, "KeyType": "HASH"}],
            SSESpecification={"Enabled": True},
        )
    except dynamodb.exceptions.ResourceInUseException:
        return False
    dynamodb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    dynamodb.update_time_to_live(
        TableName=table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TABLE_TTL_ATTRIBUTE},
    )
    return True


def create_bucket(s3: Any, bucket: str, region: str) -> bool:
    """Create the body bucket with default encryption and no public access; False when it exists."""
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        return False
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]
        },
    )
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    return True


def create_cache_resources(
    settings: Settings | None = None,
    *,
    table: str | None = None,
    bucket: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> tuple[str, str]:
    """Create (if missing) the cache table and body bucket; returns their names.

    Names come from `settings` (else from the environment via `Settings.from_env`) unless given.
    The endpoint defaults to `AWS_ENDPOINT_URL`, the region to `AWS_DEFAULT_REGION` / us-east-1.
    """
    if settings is None and (table is None or bucket is None):
        from llmcache.settings import Settings

        settings = Settings.from_env()
    table = table or (settings.cache_table if settings else None)
    bucket = bucket or (settings.cache_bucket if settings else None)
    assert table and bucket
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    dynamodb, s3 = _clients(endpoint_url, region)
    create_table(dynamodb, table)
    create_bucket(s3, bucket, region)
    return table, bucket


def delete_cache_resources(
    *, table: str, bucket: str, endpoint_url: str | None = None, region: str = DEFAULT_REGION
) -> None:
    """Delete a table and a bucket (with every object in it); absent ones are ignored. For tests."""
    dynamodb, s3 = _clients(endpoint_url, region)
    with contextlib.suppress(dynamodb.exceptions.ResourceNotFoundException):
        dynamodb.delete_table(TableName=table)
    try:
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        s3.delete_bucket(Bucket=bucket)
    except s3.exceptions.NoSuchBucket:
        pass

"""The cache's durable tiers: one DynamoDB table for entries, one S3 bucket for large bodies."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3

from constructs import Construct
from infra.nag import acknowledge
from llmcache.constants import BUCKET_BODY_PREFIX, TABLE_PARTITION_KEY, TABLE_TTL_ATTRIBUTE


class CacheStorage(Construct):
    """Table layout and bucket prefix come from `llmcache.constants`, the module the code reads."""

    def __init__(
        self, scope: Construct, id: str, *, retain_data: bool, body_expiry_days: int, auto_delete_objects: bool = False
    ) -> None:
        """`auto_delete_objects`: empty the bucket when the stack is deleted (a custom resource does it), so an
        ephemeral deployment goes away whole; never with `retain_data`."""
        super().__init__(scope, id)
        if auto_delete_objects and retain_data:
            raise ValueError("auto_delete_objects would empty a bucket whose data is retained")
        removal = RemovalPolicy.RETAIN if retain_data else RemovalPolicy.DESTROY

        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=TABLE_PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=TABLE_TTL_ATTRIBUTE,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=retain_data
            ),
            deletion_protection=retain_data,
            removal_policy=removal,
        )
        if not retain_data:
            acknowledge(
                self.table,
                "AwsSolutions-DDB3",
                "Non-production environments hold only disposable cache entries that are rebuilt "
                "from the upstream provider on a miss; point-in-time recovery is enabled where "
                "retainData is true (prod).",
            )

        self.bucket = s3.Bucket(
            self,
            "Bodies",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-bodies-after-max-ttl",
                    prefix=BUCKET_BODY_PREFIX,
                    expiration=Duration.days(body_expiry_days),
                ),
                s3.LifecycleRule(
                    id="abort-incomplete-uploads",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
            ],
            removal_policy=removal,
            auto_delete_objects=auto_delete_objects,
        )
        acknowledge(
            self.bucket,
            "AwsSolutions-S1",
            "The bucket is private (public access blocked, TLS-only policy) and only the cache "
            "function's role reads or writes it; each object is a compressed cached answer named by "
            "its hash. Request-level audit belongs to CloudTrail S3 data events, enabled per account.",
        )

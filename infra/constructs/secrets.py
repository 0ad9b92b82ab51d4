"""Secrets Manager secrets the function reads by ARN: the provider keys (OpenAI, Anthropic) and the admin key."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_secretsmanager as secretsmanager

from constructs import Construct
from infra.nag import acknowledge

_NO_ROTATION = (
    "{what} is issued outside AWS, so no rotation Lambda can mint a new one; operators rotate it by "
    "hand with `aws secretsmanager put-secret-value` (README, 'Put the provider key in place') and the "
    "function picks the new value up on its next cold start."
)


class CacheSecrets(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        env_name: str,
        managed_upstream_key: bool,
        retain_data: bool,
        managed_anthropic_key: bool = False,
        name_prefix: str | None = None,
    ) -> None:
        """`name_prefix`: secrets are named `<prefix><purpose>`; None leaves the names to CloudFormation."""
        super().__init__(scope, id)
        self.removal = RemovalPolicy.RETAIN if retain_data else RemovalPolicy.DESTROY
        self.env_name = env_name
        self.name_prefix = name_prefix
        self.upstream_key = (
            self._provider_key("UpstreamApiKey", "provider", "upstream-api-key") if managed_upstream_key else None
        )
        self.anthropic_key = (
            self._provider_key("AnthropicApiKey", "Anthropic", "anthropic-api-key") if managed_anthropic_key else None
        )

        # The generated value is a usable admin key from the first deploy on.
        self.admin_key = secretsmanager.Secret(
            self,
            "AdminApiKey",
            secret_name=self._name("admin-api-key"),
            description=f"llmcache {env_name}: bearer credential for the /cache/* management routes",
            generate_secret_string=secretsmanager.SecretStringGenerator(exclude_punctuation=True, password_length=48),
            removal_policy=self.removal,
        )
        acknowledge(
            self.admin_key,
            "AwsSolutions-SMG4",
            "The admin key is a bearer credential handed to operators, who rotate it by hand "
            "(put-secret-value, then tell the callers); an automatic rotation would lock them out "
            "without notice. The function re-reads it on its next cold start.",
        )

    def _name(self, purpose: str) -> str | None:
        return f"{self.name_prefix}{purpose}" if self.name_prefix else None

    def _provider_key(self, id: str, provider: str, purpose: str) -> secretsmanager.Secret:
        """A provider's API key that the gateway sends upstream: a placeholder the operator replaces."""
        secret = secretsmanager.Secret(
            self,
            id,
            secret_name=self._name(purpose),
            description=f"llmcache {self.env_name}: the {provider} API key the gateway sends upstream "
            "(replace the generated placeholder with put-secret-value)",
            generate_secret_string=secretsmanager.SecretStringGenerator(exclude_punctuation=True, password_length=32),
            removal_policy=self.removal,
        )
        acknowledge(secret, "AwsSolutions-SMG4", _NO_ROTATION.format(what=f"The {provider} API key"))
        return secret

"""Semantic matching per environment: staging deploys the Valkey index, dev and prod keep it off."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from infra.config import ENVIRONMENTS_KEY, ConfigError, load_config
from infra.constructs.semantic_index import search_memory_reserve
from infra_support import QDRANT, Synthesized

from llmcache.constants import Env
from llmcache.settings import Settings


def ref(value: Any) -> str:
    """The logical id a Ref / Fn::GetAtt points at."""
    return value["Ref"] if "Ref" in value else value["Fn::GetAtt"][0]


def settings_from(env: dict[str, Any]) -> Settings:
    """What the function's Settings make of its template environment, references given plausible values."""
    concrete = {}
    for key, value in env.items():
        if isinstance(value, str):
            concrete[key] = value
        elif key in (Env.REDIS_URL, Env.SEMANTIC_REDIS_URL):
            concrete[key] = "rediss://cache.example:6379"
        else:
            concrete[key] = f"resolved-{key.lower()}"
    return Settings.from_env(concrete)


def test_given_staging_when_synthesized_then_the_function_runs_semantic_on_the_valkey_index(
    staging: Synthesized,
) -> None:
    env = staging.function_env
    settings = settings_from(env)

    assert (settings.semantic_mode, settings.semantic_index, settings.semantic_embedder) == ("on", "valkey", "local")
    # what is measured is what ships: staging sets an error budget, and the function's operating point is the
    # point of the curves shipped beside the models that keeps false hits within it
    from llmcache.semantic import budget

    rate = staging.config.semantic.max_false_hit_rate
    assert rate is not None and Env.SEMANTIC_THRESHOLD not in env
    point = budget.point_for_budget(rate)
    assert settings.semantic_max_false_hit_rate == rate and point.false_hit_rate <= rate
    assert (settings.semantic_threshold, settings.semantic_pair_cut) == (point.threshold, point.pair_cut)
    cluster_id = next(iter(staging.resources("AWS::ElastiCache::ReplicationGroup")))
    url = env[Env.SEMANTIC_REDIS_URL]["Fn::Join"][1]
    assert url[0] == "rediss://"  # TLS: the cluster requires it
    assert url[1]["Fn::GetAtt"] == [cluster_id, "PrimaryEndPoint.Address"]
    auth_secret = ref(env[Env.SEMANTIC_REDIS_AUTH_SECRET_ARN])
    assert staging.raw["Resources"][auth_secret]["Type"] == "AWS::SecretsManager::Secret"


def test_given_staging_when_synthesized_then_a_node_based_valkey_with_search_encrypted_and_authenticated(
    staging: Synthesized,
) -> None:
    cluster = staging.one("AWS::ElastiCache::ReplicationGroup")["Properties"]
    major, minor = (int(p) for p in cluster["EngineVersion"].split(".")[:2])

    assert cluster["Engine"] == "valkey" and (major, minor) >= (8, 2)
    assert cluster["CacheNodeType"] == staging.config.semantic.node_type
    assert cluster["NumCacheClusters"] == 1 + staging.config.semantic.replicas
    assert cluster["TransitEncryptionEnabled"] is True and cluster["TransitEncryptionMode"] == "required"
    assert cluster["AtRestEncryptionEnabled"] is True
    token = cluster["AuthToken"]["Fn::Join"][1]
    assert token[0] == "{{resolve:secretsmanager:" and ref(token[1]) == ref(
        staging.function_env[Env.SEMANTIC_REDIS_AUTH_SECRET_ARN]
    )
    staging.template.resource_count_is("AWS::ElastiCache::ServerlessCache", 0)  # Serverless has no vector search
    group = staging.raw["Resources"][ref(cluster["CacheParameterGroupName"])]["Properties"]
    assert group["CacheParameterGroupFamily"] == "valkey8"
    assert group["Properties"] == {"reserved-memory-percent": "30"}  # search on a t4g.small needs 30%


def test_given_staging_when_synthesized_then_cluster_and_function_share_the_private_subnets(
    staging: Synthesized,
) -> None:
    cluster = staging.one("AWS::ElastiCache::ReplicationGroup")["Properties"]
    subnet_group = staging.raw["Resources"][ref(cluster["CacheSubnetGroupName"])]["Properties"]
    function = staging.one("AWS::Lambda::Function")["Properties"]
    private = {
        k
        for k, v in staging.resources("AWS::EC2::Subnet").items()
        if v["Properties"].get("MapPublicIpOnLaunch") is not True
    }

    cluster_subnets = {ref(s) for s in subnet_group["SubnetIds"]}
    assert cluster_subnets == {ref(s) for s in function["VpcConfig"]["SubnetIds"]}
    assert cluster_subnets <= private and cluster_subnets
    staging.template.resource_count_is("AWS::EC2::NatGateway", staging.config.hot_tier.nat_gateways)


def test_given_staging_when_synthesized_then_only_the_function_reaches_the_index_on_its_port(
    staging: Synthesized,
) -> None:
    cluster = staging.one("AWS::ElastiCache::ReplicationGroup")["Properties"]
    cluster_sg = ref(cluster["SecurityGroupIds"][0])
    function_sg = ref(staging.one("AWS::Lambda::Function")["Properties"]["VpcConfig"]["SecurityGroupIds"][0])
    ingress = [
        r["Properties"]
        for r in staging.resources("AWS::EC2::SecurityGroupIngress").values()
        if ref(r["Properties"]["GroupId"]) == cluster_sg
    ]
    inline = staging.raw["Resources"][cluster_sg]["Properties"].get("SecurityGroupIngress", [])

    assert inline == []
    assert [(ref(r["SourceSecurityGroupId"]), r["FromPort"], r["ToPort"]) for r in ingress] == [
        (function_sg, cluster["Port"], cluster["Port"])
    ]


def test_given_staging_when_synthesized_then_the_role_reads_the_auth_token_secret(staging: Synthesized) -> None:
    secret = ref(staging.function_env[Env.SEMANTIC_REDIS_AUTH_SECRET_ARN])
    statements = [
        s
        for p in staging.resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    readers = [s for s in statements if "secretsmanager:GetSecretValue" in s["Action"]]

    assert any(secret in str(s["Resource"]) for s in readers)


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_given_dev_or_prod_when_synthesized_then_semantic_stays_off_with_no_cluster(
    synthesized: dict[str, Synthesized], env_name: str
) -> None:
    s = synthesized[env_name]

    assert s.function_env[Env.SEMANTIC_MODE] == "off"
    assert not any(k.startswith("SEMANTIC_") and k != Env.SEMANTIC_MODE for k in s.function_env)
    s.template.resource_count_is("AWS::ElastiCache::ReplicationGroup", 0)


def test_given_the_qdrant_index_when_synthesized_then_url_and_an_api_key_secret_no_cluster_no_vpc(
    synthesized: dict[str, Synthesized],
) -> None:
    s = synthesized[QDRANT]
    env = s.function_env
    settings = settings_from(env)

    assert (settings.semantic_mode, settings.semantic_index) == ("on", "qdrant")
    assert env[Env.QDRANT_URL] == s.config.semantic.qdrant_url
    assert Env.QDRANT_API_KEY not in env  # never the key itself, only where to read it
    assert s.raw["Resources"][ref(env[Env.QDRANT_API_KEY_SECRET_ARN])]["Type"] == "AWS::SecretsManager::Secret"
    s.template.resource_count_is("AWS::ElastiCache::ReplicationGroup", 0)
    assert "VpcConfig" not in s.one("AWS::Lambda::Function")["Properties"]


# ---- config -----------------------------------------------------------------------------------


def with_semantic(context: dict[str, Any], **semantic: Any) -> dict[str, Any]:
    context = copy.deepcopy(context)
    context[ENVIRONMENTS_KEY]["dev"]["semantic"] = semantic
    return context


@pytest.mark.parametrize(
    ("semantic", "named"),
    [
        ({"index": "pinecone"}, "index"),
        ({"index": "valkey", "engineVersion": "8.1"}, "engineVersion"),
        ({"index": "valkey", "engineVersion": "7.2"}, "engineVersion"),
        ({"index": "qdrant"}, "qdrantUrl"),
        ({"index": "qdrant", "qdrantUrl": "http://qdrant.example"}, "qdrantUrl"),
        ({"index": "valkey", "threshold": 1.5}, "threshold"),
        ({"index": "valkey", "nodeType": "cache.r6gd.xlarge"}, "nodeType"),
        ({"index": "valkey", "replicas": -1}, "replicas"),
        ({"index": "valkey", "treshold": 0.9}, "treshold"),
    ],
)
def test_given_a_bad_semantic_setting_when_loaded_then_the_error_names_it(
    cdk_context: dict[str, Any], semantic: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        load_config(with_semantic(cdk_context, **semantic), "dev")


def test_given_cdk_json_when_loaded_then_staging_alone_turns_semantic_on_with_valkey(
    cdk_context: dict[str, Any],
) -> None:
    indexes = {name: load_config(cdk_context, name).semantic.index for name in ("dev", "staging", "prod")}
    assert indexes == {"dev": "off", "staging": "valkey", "prod": "off"}


@pytest.mark.parametrize(
    ("node_type", "reserve"),
    [("cache.t4g.micro", "50"), ("cache.t4g.small", "30"), ("cache.t3.small", "30"), ("cache.t4g.medium", None),
     ("cache.r7g.large", None), ("cache.m7g.large", None)],
)  # fmt: skip
def test_given_a_node_type_when_asked_then_the_memory_reserve_search_needs(node_type: str, reserve: str | None) -> None:
    assert search_memory_reserve(node_type) == reserve


def test_given_the_hot_tier_and_the_valkey_index_when_synthesized_then_they_share_one_vpc_and_function_sg(
    cdk_context: dict[str, Any], stub_layer: Any, tmp_path: Any
) -> None:
    import json

    from infra import app as infra_app

    config = load_config(cdk_context, "staging").with_hot_tier()
    app = infra_app.new_app(cdk_context, outdir=str(tmp_path))
    stack = infra_app.add_stack(app, config, layer_dir=stub_layer)
    raw = app.synth().get_stack_by_name(stack.stack_name).template
    resources = raw["Resources"]
    of_type = {t: [v for v in resources.values() if v["Type"] == t] for t in {v["Type"] for v in resources.values()}}
    function_sg = ref(of_type["AWS::Lambda::Function"][0]["Properties"]["VpcConfig"]["SecurityGroupIds"][0])
    egress = [e["Properties"] for e in of_type["AWS::EC2::SecurityGroupEgress"]]

    assert len(of_type["AWS::EC2::VPC"]) == 1
    assert len(of_type["AWS::ElastiCache::ServerlessCache"]) == len(of_type["AWS::ElastiCache::ReplicationGroup"]) == 1
    assert {ref(e["DestinationSecurityGroupId"]) for e in egress if ref(e["GroupId"]) == function_sg} == {
        ref(of_type["AWS::ElastiCache::ServerlessCache"][0]["Properties"]["SecurityGroupIds"][0]),
        ref(of_type["AWS::ElastiCache::ReplicationGroup"][0]["Properties"]["SecurityGroupIds"][0]),
    }
    assert json.dumps(raw).count("rediss://") == 2  # the hot tier's URL and the index's, both over TLS

"""The CDK app: one llmcache stack for the environment named with `-c env=NAME`, or for one of its
namespaces with `-c env=NAME -c namespace=NS` (stack `LlmCache-NAME-NS`; see infra/config.py).

Runs two ways, with the same result:
- through the CDK CLI (`npx aws-cdk@2 deploy -c env=prod`), which reads `cdk.json` itself;
- directly (`python infra/app.py -c env=prod`, what `make synth` does): this file then reads
  `cdk.json` context and the `-c key=value` arguments, synthesizes into `cdk.out/`, and fails on
  any cdk-nag finding that has no written acknowledgment.
Directly, three more verbs take the same context and synthesize nothing: `url` prints the deployed
stack's `export LLMCACHE_URL=...` line (`make url`), `destroy-notice` says what `make destroy` removes
and what it keeps, `check-account` fails a namespace's deploy early when the account lacks what it needs.

The environment and namespace names are read here and nowhere else; constructs get plain properties.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
FUNCTIONS_DIR = ROOT / "functions"
LAYER_DIR = ROOT / "layers" / "build"
CDK_JSON = ROOT / "cdk.json"

# `python infra/app.py` puts infra/ first on sys.path, where infra/constructs/ would shadow the
# `constructs` library: import our code as the `infra` package from the repository root instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != INFRA]
for _path in (str(FUNCTIONS_DIR), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)
# jsii runs on the machine's Node; its end-of-life banner is noise on every synth.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

import aws_cdk as cdk  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from infra import deployed  # noqa: E402
from infra.config import (  # noqa: E402
    DEFAULTS_KEY,
    ENVIRONMENTS_KEY,
    NAMESPACES_KEY,
    ConfigError,
    ContextError,
    EnvironmentConfig,
    load_config,
    parse_flag,
)
from infra.stacks.llmcache_stack import LlmCacheStack  # noqa: E402

ENV_CONTEXT_KEY = "env"
NAMESPACE_CONTEXT_KEY = "namespace"
RETAIN_CONTEXT_KEY = "retain"  # true/false: a namespace's data kept on destroy or not, whatever its environment says
CONTEXT_KEYS = (
    DEFAULTS_KEY,
    ENVIRONMENTS_KEY,
    NAMESPACES_KEY,
    ENV_CONTEXT_KEY,
    NAMESPACE_CONTEXT_KEY,
    RETAIN_CONTEXT_KEY,
)
VERBS = ("synth", "url", "destroy-notice", "check-account")


def cdk_json_context() -> dict[str, Any]:
    """The `context` object of cdk.json: environment settings and feature flags."""
    return dict(json.loads(CDK_JSON.read_text())["context"])


def parse_context_args(argv: Sequence[str]) -> dict[str, str]:
    """`-c key=value` / `--context key=value` pairs, as the CDK CLI takes them."""
    out: dict[str, str] = {}
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("-c", "--context"):
            if not args:
                raise SystemExit(f"{arg} needs key=value")
            pair = args.pop(0)
        elif arg.startswith("--context="):
            pair = arg.split("=", 1)[1]
        else:
            raise SystemExit(f"unknown argument {arg!r}; use -c env=NAME [-c namespace=NS]")
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"context {pair!r} is not key=value")
        out[key] = value
    return out


def stub_layer_dir() -> Path:
    """An empty layer (`python/` only): synthesizes like the real one, deploys nothing useful."""
    path = Path(tempfile.mkdtemp(prefix="llmcache-layer-stub-"))
    (path / "python").mkdir()
    return path


def resolve_layer_dir(*, under_cli: bool) -> Path:
    if (LAYER_DIR / "python").is_dir():
        return LAYER_DIR
    if under_cli:
        raise SystemExit(f"{LAYER_DIR} is not built: run `make layer` before cdk deploy/diff")
    print(
        f"note: {LAYER_DIR} is not built; synthesizing with an empty placeholder layer "
        "(run `make layer` before deploying)",
        file=sys.stderr,
    )
    return stub_layer_dir()


def add_stack(app: cdk.App, config: EnvironmentConfig, *, layer_dir: Path) -> LlmCacheStack:
    env = cdk.Environment(
        account=config.account or os.environ.get("CDK_DEFAULT_ACCOUNT"),
        region=config.region or os.environ.get("CDK_DEFAULT_REGION"),
    )
    return LlmCacheStack(app, config=config, code_dir=FUNCTIONS_DIR, layer_dir=layer_dir, env=env)


def new_app(context: Mapping[str, Any], outdir: str | None = None) -> cdk.App:
    """An App with cdk-nag's AwsSolutions pack registered as a synthesis validation plugin."""
    app = cdk.App(context=dict(context), outdir=outdir)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app


def deployment_config(context: Mapping[str, Any]) -> EnvironmentConfig:
    """The settings of the deployment the context names: `env`, and `namespace` / `retain` if given."""
    env_name = context.get(ENV_CONTEXT_KEY)
    if not env_name:
        envs = ", ".join((context.get(ENVIRONMENTS_KEY) or {}).keys())
        raise SystemExit(f"choose an environment with -c env=NAME ({envs})")
    namespace = context.get(NAMESPACE_CONTEXT_KEY) or None  # `make ... NAMESPACE=` passes nothing
    try:
        retain = parse_flag(context.get(RETAIN_CONTEXT_KEY), RETAIN_CONTEXT_KEY)
        return load_config(context, str(env_name), None if namespace is None else str(namespace), retain=retain)
    except ContextError as exc:
        raise SystemExit(str(exc)) from None
    except ConfigError as exc:
        raise SystemExit(f"cdk.json: {exc}") from None


def main(argv: Sequence[str]) -> int:
    started = time.monotonic()
    args = list(argv)
    verb = args.pop(0) if args and args[0] in VERBS else "synth"
    under_cli = "CDK_OUTDIR" in os.environ
    cli_app: cdk.App | None = None
    if under_cli:
        # The CLI hands the merged cdk.json + -c context over in CDK_CONTEXT_JSON; App reads it.
        cli_app = cdk.App()
        cdk.Validations.of(cli_app).add_plugins(AwsSolutionsChecks(cli_app, verbose=True))
        context: Mapping[str, Any] = {key: cli_app.node.try_get_context(key) for key in CONTEXT_KEYS}
    else:
        context = {**cdk_json_context(), **parse_context_args(args)}
    config = deployment_config(context)
    if verb == "url":
        return deployed.print_url_export(config)
    if verb == "destroy-notice":
        print(deployed.destroy_notice(config))
        return 0
    if verb == "check-account":
        return deployed.check_account_log_role(config)

    app = cli_app or new_app(context, outdir=str(ROOT / "cdk.out"))
    stack = add_stack(app, config, layer_dir=resolve_layer_dir(under_cli=under_cli))
    assembly = app.synth()  # raises, with the report, on any unacknowledged cdk-nag finding
    if not under_cli:
        template = Path(assembly.directory) / stack.template_file
        print(
            f"synthesized {stack.stack_name} -> {template.relative_to(ROOT)} "
            f"(cdk-nag AwsSolutions: no unacknowledged findings) in {time.monotonic() - started:.1f}s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

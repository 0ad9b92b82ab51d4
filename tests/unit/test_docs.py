"""The README and docs/*.md say only what is true of this repository.

Every relative link resolves (file and #anchor, with GitHub's anchor rules), and every `make` target,
environment variable (or module constant) and X-Cache*/Cache-Control-like header the docs name in code exists
in the project.
Names are taken from code spans and code blocks only: prose may say "make sure" freely.
"""

import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
SOURCES = [
    *(ROOT / "functions" / "llmcache").rglob("*.py"),
    *(ROOT / "infra").rglob("*.py"),
    *(ROOT / "layers").rglob("*.py"),
    *(ROOT / "bench").rglob("*.py"),
]

# Variables that are not the project's own but that the docs rightly name: read by the AWS SDK and CLI
# (AWS_*), by Powertools (POWERTOOLS_*), by the Lambda Web Adapter (AWS_LWA_*), or by a shell recipe in the
# docs themselves (STACK, API, API_KEY, KEY_ID, ADMIN, KEY: variables the deploy guide sets and then uses).
FOREIGN_VARIABLE_PREFIXES = ("AWS_", "POWERTOOLS_")
SHELL_RECIPE_VARIABLES = {"STACK", "API", "API_KEY", "KEY_ID", "ADMIN", "KEY"}
# Upper-case names that are not variables at all: socket options the servers set.
NOT_VARIABLES = {"TCP_NODELAY"}

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
SPAN = re.compile(r"`([^`\n]+)`")
MAKE_TARGET = re.compile(r"\bmake ([a-z][a-z0-9-]*)")
VARIABLE = re.compile(r"(?<![\w$.-])([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b|(?<![\w$.-])([A-Z][A-Z0-9_]*)=")
HEADER = re.compile(r"\b(X-Cache(?:-[A-Za-z]+)*|Cache-Control)\b")


def _code(text: str) -> str:
    """Code blocks and code spans, where names are meant literally."""
    blocks = FENCE.findall(text)
    spans = SPAN.findall(FENCE.sub("", text))
    return "\n".join([*blocks, *spans])


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@cache
def _anchors(page: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for line in FENCE.sub("", page.read_text()).splitlines():
        if match := re.match(r"#{1,6} (.+)", line):
            slug = _slug(match.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            anchors.add(slug if count == 0 else f"{slug}-{count}")
    return frozenset(anchors)


@cache
def _source_text() -> str:
    return "\n".join(path.read_text() for path in SOURCES)


@cache
def _make_targets() -> frozenset[str]:
    makefile = (ROOT / "Makefile").read_text()
    return frozenset(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.M))


@cache
def _make_variables() -> frozenset[str]:
    makefile = (ROOT / "Makefile").read_text()
    return frozenset(re.findall(r"\$\(([A-Z][A-Z0-9_]*)\)", makefile)) | frozenset(
        re.findall(r"^([A-Z][A-Z0-9_]*) *[?:]?=", makefile, re.M)
    )


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_given_a_docs_page_when_its_relative_links_are_followed_then_each_file_and_anchor_exists(page: Path):
    broken = []
    for target in LINK.findall(FENCE.sub("", page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not this repository's
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists():
            broken.append(f"{target}: no file {linked.relative_to(ROOT) if ROOT in linked.parents else linked}")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target}: no heading with anchor #{anchor} in {linked.name}")
    assert not broken, f"{_page_id(page)} has broken links:\n" + "\n".join(broken)


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_given_a_docs_page_when_it_names_make_targets_then_the_makefile_has_each(page: Path):
    named = set(MAKE_TARGET.findall(_code(page.read_text())))
    assert named - _make_targets() == set(), f"{_page_id(page)} names make targets the Makefile lacks"


def _read_by_the_project(name: str) -> bool:
    return (
        name in _make_variables()
        or f'"{name}"' in _source_text()
        or re.search(rf"^{name}\b *(: *[^=\n]+)? *=", _source_text(), re.M) is not None  # a module constant
        # every setting may be given as LLMCACHE_<NAME> (settings.with_prefixed_names)
        or (name.startswith("LLMCACHE_") and _read_by_the_project(name.removeprefix("LLMCACHE_")))
    )


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_given_a_docs_page_when_it_names_environment_variables_then_the_project_reads_each(page: Path):
    named = {a or b for a, b in VARIABLE.findall(_code(page.read_text()))}
    unknown = {
        name
        for name in named
        if not name.startswith(FOREIGN_VARIABLE_PREFIXES)
        and name not in SHELL_RECIPE_VARIABLES | NOT_VARIABLES
        and not _read_by_the_project(name)
    }
    assert not unknown, f"{_page_id(page)} names variables nothing in the project reads: {sorted(unknown)}"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_given_a_docs_page_when_it_names_cache_headers_then_the_gateway_code_uses_each(page: Path):
    source = _source_text().lower()
    named = set(HEADER.findall(_code(page.read_text())))
    unknown = {name for name in named if f'"{name.lower()}' not in source}
    assert not unknown, f"{_page_id(page)} names headers the gateway never reads or sets: {sorted(unknown)}"


def test_given_the_readme_when_measured_then_a_newcomer_reads_it_in_five_minutes():
    assert (ROOT / "README.md").stat().st_size <= 12 * 1024


def test_given_the_slug_rules_when_applied_to_a_numbered_heading_then_github_anchor_results():
    # The deploy guide links to numbered, punctuated headings: the rule must match GitHub's.
    assert _slug("8. Turn on the Redis (Valkey) hot tier, and what it costs") == (
        "8-turn-on-the-redis-valkey-hot-tier-and-what-it-costs"
    )
    assert _slug("`llmcache`: the operator command") == "llmcache-the-operator-command"

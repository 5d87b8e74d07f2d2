"""Offline schema check of terraform/ against the pinned providers' published schemas.

Terraform cannot download the Google provider here, so `terraform validate` cannot run. The providers'
schemas are published anyway, inside the CDK for Terraform prebuilt-provider packages on PyPI
(requirements-tfschema.txt pins each to the provider version terraform/versions.tf pins):
`cdktf_cdktf_provider_<name>/_jsii/provider-<name>@<version>.jsii.tgz` holds `package/package.json`
(`cdktf.provider.name/version`: which provider release it was generated from) and `package/.jsii`, the
jsii assembly generated from that release's schema. In the assembly each resource and data source is a
class documented "Represents a {@link .../docs/resources/<x> google_<x>}", and its arguments are the
properties of the `<Class>Config` struct: one property per argument or nested block, `optional` unless
Terraform requires it, a nested block typed as another struct, and each property's documentation links
the registry anchor `#<argument_name>`, which is the name as written in HCL.

Checked for every resource and data block, recursively through nested and `dynamic` blocks: the type
exists in the pinned provider, every argument and block name exists there, blocks are written as blocks
and arguments as arguments, and every required argument or block is present (a required block may come
from a `dynamic` block). Meta-arguments (count, for_each, depends_on, provider, lifecycle...) are
Terraform's own.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import tarfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

REPO = Path(__file__).resolve().parents[2]
TF_DIR = REPO / "terraform"
CACHE_DIR = REPO / ".run" / "tfschema"

# Provider local name (the resource type's prefix, or its `provider` meta-argument) -> the PyPI package
# carrying its schema.
SCHEMA_PACKAGES = {
    "google": "cdktf_cdktf_provider_google",
    "google-beta": "cdktf_cdktf_provider_google_beta",
    "time": "cdktf_cdktf_provider_time",
    "archive": "cdktf_cdktf_provider_archive",
}
# Resource types built into Terraform itself (no provider to check against).
BUILTIN_TYPES = frozenset({"terraform_data"})
META_ARGUMENTS = frozenset({"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner",
                            "connection"})

_REPRESENTS = re.compile(r"Represents a \{@link https://registry\.terraform\.io/providers/[^/]+/[^/]+/([^/]+)/docs/"
                         r"(resources|data-sources)/\S+ (\w+)\}")
# The registry link every property's documentation ends with: "{@link https://registry...#<name> <Class>#<name>}".
_ANCHOR = re.compile(r"\{@link https://registry\.terraform\.io/\S+#([A-Za-z0-9_]+) \w+#\1\}")


@dataclass
class BlockSchema:
    attributes: dict[str, bool] = field(default_factory=dict)  # name -> required
    blocks: dict[str, tuple[bool, BlockSchema]] = field(default_factory=dict)  # name -> (required, schema)

    def to_json(self) -> dict[str, Any]:
        return {"attributes": self.attributes,
                "blocks": {n: [req, b.to_json()] for n, (req, b) in self.blocks.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BlockSchema:
        return cls(dict(data["attributes"]),
                   {n: (req, cls.from_json(b)) for n, (req, b) in data["blocks"].items()})


@dataclass
class ProviderSchema:
    source: str  # registry.terraform.io/hashicorp/google
    version: str  # 6.50.0
    provider: BlockSchema
    resources: dict[str, BlockSchema]
    data_sources: dict[str, BlockSchema]


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def _property_name(prop: dict[str, Any]) -> str:
    docs = prop.get("docs", {})
    match = _ANCHOR.search(f"{docs.get('remarks', '')} {docs.get('summary', '')}")
    return match.group(1) if match else _snake(prop["name"])


def _struct_of(type_ref: Any, types: dict[str, Any]) -> str | None:
    """The fqn of the struct (a nested block) a property's type refers to, through unions and collections."""
    if isinstance(type_ref, dict):
        fqn = type_ref.get("fqn")
        if isinstance(fqn, str) and types.get(fqn, {}).get("datatype"):
            return fqn
        for value in type_ref.values():
            found = _struct_of(value, types)
            if found:
                return found
    elif isinstance(type_ref, list):
        for value in type_ref:
            found = _struct_of(value, types)
            if found:
                return found
    return None


def _struct_schema(fqn: str, types: dict[str, Any], memo: dict[str, BlockSchema]) -> BlockSchema:
    if fqn in memo:
        return memo[fqn]
    schema = memo[fqn] = BlockSchema()
    struct = types[fqn]
    for parent in struct.get("interfaces", []):  # cdktf.TerraformMetaArguments is not in this assembly
        if parent in types:
            inherited = _struct_schema(parent, types, memo)
            schema.attributes.update(inherited.attributes)
            schema.blocks.update(inherited.blocks)
    for prop in struct.get("properties", []):
        name = _property_name(prop)
        required = not prop.get("optional", False)
        nested = _struct_of(prop["type"], types)
        if nested is not None:
            schema.blocks[name] = (required, _struct_schema(nested, types, memo))
        else:
            schema.attributes[name] = required
    return schema


def _build(assembly: dict[str, Any], package_json: dict[str, Any]) -> ProviderSchema:
    types = assembly["types"]
    memo: dict[str, BlockSchema] = {}
    resources: dict[str, BlockSchema] = {}
    data_sources: dict[str, BlockSchema] = {}
    provider = BlockSchema()
    for fqn, t in types.items():
        if t.get("kind") != "class":
            continue
        match = _REPRESENTS.search(t.get("docs", {}).get("summary", ""))
        config = f"{fqn}Config"
        if config not in types:
            continue
        if match:
            target = resources if match.group(2) == "resources" else data_sources
            target[match.group(3)] = _struct_schema(config, types, memo)
        elif fqn.endswith("Provider") and ".provider." in fqn:
            provider = _struct_schema(config, types, memo)
    meta = package_json["cdktf"]["provider"]
    return ProviderSchema(meta["name"], meta["version"], provider, resources, data_sources)


def schema_archive(local_name: str) -> Path | None:
    """The .jsii.tgz of a provider's schema package, or None when the package is not installed."""
    spec = importlib.util.find_spec(SCHEMA_PACKAGES[local_name])  # locates without importing (no node)
    if spec is None or spec.origin is None:
        return None
    archives = sorted((Path(spec.origin).parent / "_jsii").glob("*.jsii.tgz"))
    return archives[0] if archives else None


@cache
def provider_schema(local_name: str) -> ProviderSchema | None:
    """The provider's schema from its package (cached in .run/tfschema: the google assembly is ~100 MB)."""
    archive = schema_archive(local_name)
    if archive is None:
        return None
    stat = archive.stat()
    key = hashlib.sha256(f"{archive}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    cached = CACHE_DIR / f"{local_name}-{key}.json"
    if cached.exists():
        data = json.loads(cached.read_text())
    else:
        with tarfile.open(archive) as tar:
            package_json = json.load(tar.extractfile("package/package.json"))  # type: ignore[arg-type]
            assembly = json.load(tar.extractfile("package/.jsii"))  # type: ignore[arg-type]
        built = _build(assembly, package_json)
        data = {"source": built.source, "version": built.version, "provider": built.provider.to_json(),
                "resources": {k: v.to_json() for k, v in built.resources.items()},
                "data_sources": {k: v.to_json() for k, v in built.data_sources.items()}}
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(cached)
    return ProviderSchema(data["source"], data["version"], BlockSchema.from_json(data["provider"]),
                          {k: BlockSchema.from_json(v) for k, v in data["resources"].items()},
                          {k: BlockSchema.from_json(v) for k, v in data["data_sources"].items()})


# --- Checking HCL --------------------------------------------------------------------------------

_OPTIONS = hcl2.SerializationOptions(with_comments=False, explicit_blocks=True, strip_string_quotes=True)


def _is_block(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get("__is_block__")
                                                           for v in value)


def check_body(body: dict[str, Any], schema: BlockSchema, where: str) -> list[str]:
    """Problems of one block body against its schema (recursively), as 'where: problem' lines."""
    problems: list[str] = []
    present: set[str] = set()
    for name, value in body.items():
        if name in ("__is_block__", "__comments__") or name in META_ARGUMENTS:
            continue
        if name == "dynamic":
            for item in value:
                for block_name, spec in item.items():
                    if block_name == "__is_block__":
                        continue
                    present.add(block_name)
                    if block_name not in schema.blocks:
                        kind = "an argument, not a block" if block_name in schema.attributes else "no such block"
                        problems.append(f'{where}: dynamic "{block_name}": {kind}')
                        continue
                    for content in spec.get("content", []):
                        problems += check_body(content, schema.blocks[block_name][1], f"{where}.{block_name}[dynamic]")
            continue
        present.add(name)
        if name in schema.blocks:
            if not _is_block(value):
                problems.append(f"{where}: {name} is a block, written as an argument")
                continue
            for nested in value:
                problems += check_body(nested, schema.blocks[name][1], f"{where}.{name}")
        elif name in schema.attributes:
            if _is_block(value):
                problems.append(f"{where}: {name} is an argument, written as a block")
        else:
            problems.append(f"{where}: unsupported argument or block {name!r}")
    for name, required in schema.attributes.items():
        if required and name not in present:
            problems.append(f"{where}: required argument {name!r} is missing")
    for name, (required, _) in schema.blocks.items():
        if required and name not in present:
            problems.append(f"{where}: required block {name!r} is missing")
    return problems


@cache
def _parse(text: str) -> dict[str, Any]:
    # python-hcl2 takes seconds for the whole module: broken copies re-parse only the file they change.
    return hcl2.loads(text, serialization_options=_OPTIONS)


def load_blocks(tf_dir: Path = TF_DIR) -> dict[str, dict[str, Any]]:
    """{file name: parsed HCL (explicit blocks)} of the root module (treat as read-only: cached)."""
    return {path.name: _parse(path.read_text()) for path in sorted(tf_dir.glob("*.tf"))}


def provider_of(rtype: str, body: dict[str, Any]) -> str:
    """The provider local name of a block: its `provider` meta-argument, else its type's prefix."""
    explicit = body.get("provider")
    if explicit:
        return str(explicit).removeprefix("${").removesuffix("}").split(".", 1)[0]
    return rtype.split("_", 1)[0]


def check_module(tf_dir: Path = TF_DIR) -> list[str]:
    """Every schema problem of the root module's resource, data and provider blocks."""
    problems: list[str] = []
    for filename, parsed in load_blocks(tf_dir).items():
        for kind in ("resource", "data"):
            for block in parsed.get(kind, []):
                for rtype, by_name in block.items():
                    if rtype == "__is_block__" or rtype in BUILTIN_TYPES:
                        continue
                    for name, body in by_name.items():
                        if name == "__is_block__":
                            continue
                        where = f"{filename}: {'data.' if kind == 'data' else ''}{rtype}.{name}"
                        local_name = provider_of(rtype, body)
                        if local_name not in SCHEMA_PACKAGES:
                            problems.append(f"{where}: no schema package for provider {local_name!r}"
                                            " (add one to SCHEMA_PACKAGES and requirements-tfschema.txt)")
                            continue
                        schema = provider_schema(local_name)
                        if schema is None:
                            problems.append(f"{where}: {SCHEMA_PACKAGES[local_name]} is not installed")
                            continue
                        types = schema.resources if kind == "resource" else schema.data_sources
                        if rtype not in types:
                            problems.append(f"{where}: no such {kind} type in {schema.source} {schema.version}")
                            continue
                        problems += check_body(body, types[rtype], where)
        for block in parsed.get("provider", []):
            for local_name, body in block.items():
                schema = provider_schema(local_name) if local_name in SCHEMA_PACKAGES else None
                if schema is not None:
                    problems += check_body(body, schema.provider, f"{filename}: provider {local_name}")
    return problems


def pinned_versions(tf_dir: Path = TF_DIR) -> dict[str, str]:
    """{provider local name: version constraint} from the terraform block's required_providers."""
    pins: dict[str, str] = {}
    for parsed in load_blocks(tf_dir).values():
        for block in parsed.get("terraform", []):
            for required in block.get("required_providers", []):
                for name, spec in required.items():
                    if isinstance(spec, dict):
                        pins[name] = str(spec.get("version", ""))
    return pins


def locked_versions(tf_dir: Path = TF_DIR) -> dict[str, str]:
    """{provider source: version} recorded in .terraform.lock.hcl."""
    lock = tf_dir / ".terraform.lock.hcl"
    if not lock.exists():
        return {}
    parsed = _parse(lock.read_text())
    return {source: str(body["version"]) for block in parsed.get("provider", [])
            for source, body in block.items() if source != "__is_block__"}

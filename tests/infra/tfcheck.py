"""Offline consistency between the code and terraform/: what the code needs, what Terraform provides.

No terraform binary or provider is needed: the HCL is parsed with python-hcl2 and the code is read
with `ast` (plus importing shared.config for the Settings class). Every check is a function of a
`Terraform` and a `Code` returning a list of problems (empty = consistent), so tests can also feed
it mutated copies and prove each check fails when it should.

What "needed" means is decided from the code, not listed by hand: the Settings fields each entry
point's code reads (reachability over the AST from the entry point), the queue and collection names
it uses, the log messages the metrics count. The policy tables below only say which settings have
no usable production default.
"""

from __future__ import annotations

import ast
import copy
import fnmatch
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

REPO = Path(__file__).resolve().parents[2]
TF_DIR = REPO / "terraform"
CODE_PACKAGES = ("functions", "shared")

# --- Policy: which settings Terraform must set in production -------------------------------------

# Local-development knobs: production must never set them (an emulator host in production would send
# every task to nowhere; allowing http webhooks would let a tenant's CRM URL be plain http or point
# crm_sync at private addresses).
# The Gemini Developer API (LLM_BACKEND=gemini, an API key) and a separate Vertex project are for running the
# local stack on a real model; production uses Vertex AI in its own project with the function's service account.
DEV_ONLY = frozenset({"tasks_emulator_host", "vertex_base_url", "crm_webhook_allow_http", "gemini_api_key",
                      "gemini_base_url", "vertex_project"})
# Defaults that only make sense on a laptop.
LOCAL_MARKERS = ("127.0.0.1", "localhost", "piloto-local")
# Usable defaults that are still deployment decisions: production states them explicitly (model ids
# and prices change faster than code; the region must match the queues'). The knowledge base's too:
# the functions that write vectors and those that query them must embed with the same model and
# dimension as the vector index (var.knowledge), and an operator's chunking or distance threshold
# must reach every function that reads it.
DEPLOYMENT_DECISIONS = frozenset({"google_cloud_project", "region", "llm_backend", "llm_model",
                                  "vertex_location", "llm_pricing",
                                  "embedding_backend", "embedding_model", "embedding_dimensions",
                                  "embedding_location", "knowledge_max_distance", "knowledge_chunk_chars",
                                  "knowledge_chunk_overlap_chars", "knowledge_max_object_bytes"})
# Settings naming infrastructure: the resource must exist, so Terraform states the name it created.
INFRA_NAME_SUFFIXES = ("_queue", "_topic", "_bucket")
# Functions allowed an allUsers invoker: they authenticate their callers in code. Add one here only
# with that code.
PUBLIC_BY_DESIGN = frozenset({"whatsapp_webhook"})
# (function, env var) pairs Terraform may set although the analysis finds no read (none today).
UNREAD_ENV_ALLOWED: frozenset[tuple[str, str]] = frozenset()
# Settings that repeat a queue's retry configuration: (setting, queue key, queue attribute). The code
# counts attempts itself (on what MEDIA_MAX_ATTEMPTS says is the queue's last attempt it records a
# failure instead of raising), so Terraform must set both from one expression.
QUEUE_MIRRORS = (("media_max_attempts", "media", "max_attempts"),)
# Leases a function holds on its work: (function, setting, what it is, what goes wrong). The function's
# timeout must be below the lease, or a retry takes over work a timed-out delivery is still doing.
LEASES = (
    ("agent_turn", "reply_lease_seconds", "the reply lease",
     "a retry can take over a delivery that is still running and the lead gets two replies"),
    ("followup_turn", "reply_lease_seconds", "the reply lease",
     "a retry can take over a follow-up that is still being sent and the lead gets it twice"),
    ("media_processor", "media_lease_seconds", "the media lease",
     "a retry can read a file a timed-out delivery is still reading"),
    ("crm_sync", "crm_lease_seconds", "the CRM delivery lease",
     "a redelivery can call the CRM for an event a timed-out delivery is still applying"),
)
# Time budgets a function checks itself between units of work: (function, setting). The budget must end
# before the function's timeout, or every long run is killed mid-way instead of stopping cleanly.
TIME_BUDGETS = (("outbox_drain", "outbox_drain_time_budget_seconds"),)
# Cloud Scheduler's limits on an HTTP target's attempt_deadline.
SCHEDULER_DEADLINE_RANGE = (15, 1800)
# Cloud Tasks' dispatch deadline of an HTTP task that sets none: Cloud Tasks cancels an attempt that runs
# longer (and retries it while the function may still be working).
DEFAULT_DISPATCH_DEADLINE_SECONDS = 600

# Cloud Run's deterministic URL needs "<service>-<project number>" within one 63-character DNS label
# (project numbers have 12 digits); service account ids are at most 30 characters.
MAX_SERVICE_NAME = 63 - 1 - 12
MAX_ACCOUNT_ID = 30

SECRET_LOOKING = [
    re.compile(r"\b[0-9a-f]{32,}\b"),  # Meta app secrets are 32 hex characters
    re.compile(r"\bEAA[A-Za-z0-9]{20,}"),  # Meta access tokens
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}"),  # Google API keys
]
SECRET_VARIABLE_NAME = re.compile(r"(secret|token|password|api_?key)", re.I)


# --- Terraform side ------------------------------------------------------------------------------

_HCL_OPTIONS = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)


@dataclass
class Terraform:
    locals: dict[str, Any]
    resources: dict[str, dict[str, dict[str, Any]]]
    data: dict[str, dict[str, dict[str, Any]]]
    variables: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]
    texts: dict[str, str]

    def resource(self, rtype: str, name: str) -> dict[str, Any]:
        return self.resources.get(rtype, {}).get(name, {})

    def copy(self) -> Terraform:
        return copy.deepcopy(self)


def load_terraform(tf_dir: Path = TF_DIR) -> Terraform:
    """Merge every .tf file of the root module into one structure."""
    tf = Terraform({}, {}, {}, {}, {}, {})
    for path in sorted(tf_dir.glob("*.tf")):
        text = path.read_text()
        tf.texts[path.name] = text
        parsed = hcl2.loads(text, serialization_options=_HCL_OPTIONS)
        for block in parsed.get("locals", []):
            duplicated = set(block) & set(tf.locals)
            assert not duplicated, f"local(s) {sorted(duplicated)} defined twice ({path.name})"
            tf.locals.update(block)
        for kind, target in (("resource", tf.resources), ("data", tf.data)):
            for block in parsed.get(kind, []):
                for rtype, by_name in block.items():
                    target.setdefault(rtype, {}).update(by_name)
        for block in parsed.get("variable", []):
            tf.variables.update(block)
        for block in parsed.get("output", []):
            tf.outputs.update(block)
    return tf


def _expr(value: Any) -> str:
    """An HCL expression as text, without the ${...} wrapper python-hcl2 adds."""
    text = str(value)
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    return re.sub(r"\s+", " ", text).strip()


def _keys_referenced(expr: Any, address: str) -> set[str]:
    """Keys of `address["key"]` references in an expression, e.g. queue keys of google_cloud_tasks_queue.queue."""
    return set(re.findall(re.escape(address) + r'\["([^"]+)"\]', str(expr)))


def _block(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name, {})
    return value[0] if isinstance(value, list) and value else value if isinstance(value, dict) else {}


def _dynamic(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    for item in body.get("dynamic", []):
        if name in item:
            return item[name]
    return None


def function_env(tf: Terraform, fn: str) -> dict[str, Any]:
    """Plain environment variables Terraform sets on a function (common + its own)."""
    return {**tf.locals.get("common_env", {}), **tf.locals.get("function_env", {}).get(fn, {})}


def function_secrets(tf: Terraform, fn: str) -> dict[str, str]:
    """{ENV_VAR: secret id} a function gets from Secret Manager."""
    return dict(tf.locals.get("function_specs", {}).get(fn, {}).get("secrets") or {})


def variable_default(tf: Terraform, variable: str, attribute: str) -> Any:
    """The optional() default of an attribute of an object variable, e.g. agent_turn.reply_lease_seconds."""
    type_expr = str(tf.variables.get(variable, {}).get("type", ""))
    match = re.search(rf"\b{re.escape(attribute)}\s*=\s*optional\(\s*\w+\s*,\s*([^,)]+)\)", type_expr)
    if match is None:
        return None
    raw = match.group(1).strip().strip('"')
    try:
        return float(raw) if "." in raw else int(raw)
    except ValueError:
        return raw


def variable_list_default(tf: Terraform, variable: str, attribute: str) -> list[str] | None:
    """The optional() default of a list(string) attribute of an object variable, e.g. media.readable_mime_types."""
    type_expr = str(tf.variables.get(variable, {}).get("type", ""))
    match = re.search(rf"\b{re.escape(attribute)}\s*=\s*optional\(\s*list\(string\)\s*,\s*\[([^\]]*)\]", type_expr)
    return None if match is None else re.findall(r'"([^"]*)"', match.group(1))


def number_of(tf: Terraform, value: Any) -> float | None:
    """A number from a literal, "12", tostring(...) around one, or var.x.y (that attribute's default)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    text = _untostring(value)
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        pass
    match = re.fullmatch(r"var\.(\w+)\.(\w+)", text)
    if match:
        default = variable_default(tf, *match.groups())
        return default if isinstance(default, int | float) and not isinstance(default, bool) else None
    return None


def seconds_of(duration: Any) -> float | None:
    """A Cloud Tasks duration such as "240s" in seconds."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)s", str(duration).strip())
    return float(match.group(1)) if match else None


def retry_times(max_attempts: int, min_backoff: float, max_backoff: float, max_doublings: int,
                max_retry_duration: float, limit: int = 100_000) -> list[float]:
    """When each attempt of a task that keeps failing runs, in seconds after the first (0).

    Cloud Tasks' RetryConfig: the interval starts at min_backoff, doubles max_doublings times, then grows
    linearly by min_backoff x 2^max_doublings, capped at max_backoff. It stops only once the task has had
    max_attempts attempts AND max_retry_duration has passed since the first (0: no time limit; -1
    attempts: no attempt limit; both unlimited: retried until the task's retention, returned as inf).
    """
    if max_attempts == -1 and max_retry_duration == 0:
        return [0.0, math.inf]
    times = [0.0]
    while len(times) < limit:
        attempts_done = max_attempts == -1 or len(times) >= max_attempts
        time_done = max_retry_duration == 0 or times[-1] >= max_retry_duration
        if attempts_done and time_done:
            break
        i = len(times) - 1
        if i <= max_doublings:
            interval = min_backoff * 2 ** i
        else:
            interval = min_backoff * 2 ** max_doublings * (i - max_doublings + 1)
        times.append(times[-1] + min(max_backoff, interval))
    return times


def queue_retry_times(tf: Terraform, queue: dict[str, Any]) -> list[float] | None:
    """retry_times of a local.queues entry; None when a value cannot be read statically."""
    attempts = number_of(tf, queue.get("max_attempts"))
    doublings = number_of(tf, queue.get("max_doublings"))
    durations = [seconds_of(queue.get(k)) for k in ("min_backoff", "max_backoff", "max_retry_duration")]
    if attempts is None or doublings is None or None in durations:
        return None
    min_backoff, max_backoff, duration = durations
    return retry_times(int(attempts), min_backoff, max_backoff, int(doublings), duration)


def source_files(tf: Terraform, root: Path = REPO) -> set[str]:
    """The files the source archive holds, by the same patterns Terraform's fileset() uses."""
    files: set[str] = set()
    for pattern in tf.locals.get("source_patterns", []):
        files.update(p.relative_to(root).as_posix() for p in root.glob(pattern) if p.is_file())
    return files


def archive_matches(tf: Terraform, relpath: str) -> bool:
    for pattern in tf.locals.get("source_patterns", []):
        if pattern == relpath:
            return True
        if "**/" in pattern:  # fileset's ** spans zero or more directories
            head, tail = pattern.split("**/", 1)
            rest = relpath[len(head):] if relpath.startswith(head) else None
            if rest is not None and (fnmatch.fnmatchcase(rest.rsplit("/", 1)[-1], tail)):
                return True
        elif fnmatch.fnmatchcase(relpath, pattern) and relpath.count("/") == pattern.count("/"):
            return True
    return False


# --- Code side -----------------------------------------------------------------------------------


@dataclass
class SettingField:
    name: str
    default: Any
    secret: bool

    @property
    def env(self) -> str:
        return self.name.upper()

    @property
    def dev_only(self) -> bool:
        return self.name in DEV_ONLY or self.name.endswith("_emulator_host")

    @property
    def must_set_in_production(self) -> bool:
        if self.dev_only:
            return False
        if self.default is None or self.name in DEPLOYMENT_DECISIONS or self.name.endswith(INFRA_NAME_SUFFIXES):
            return True
        return isinstance(self.default, str) and any(marker in self.default for marker in LOCAL_MARKERS)


@dataclass
class Code:
    entry_points: dict[str, str]
    settings: dict[str, SettingField]
    reads: dict[str, set[str]]  # entry point -> Settings fields its code can read
    files: dict[str, set[str]]  # entry point -> repo files its code can load
    log_lines: dict[str, set[str]]  # log message -> structured fields logged with it
    bound_fields: set[str]  # fields every line inside log.bound(...) carries
    collections: set[str]
    collection_group_queries: set[GroupQuery]  # collection-group queries: filters and order
    providers: set[str]
    vector_queries: set[VectorQuery] = field(default_factory=set)  # find_nearest queries
    event_types: dict[str, set[str]] = field(default_factory=dict)  # entry point -> CloudEvent types it names
    dispatch_deadlines: set[str] = field(default_factory=set)  # module:line where the code sets a task's deadline
    signatures: dict[str, str | None] = field(default_factory=dict)  # entry point -> "http" / "cloud_event"
    ttl_writes: dict[str | None, set[str]] = field(default_factory=dict)  # collection -> where expire_at is written
    ordered_publishing: bool = False  # the code publishes with ordering keys

    def copy(self) -> Code:
        return copy.deepcopy(self)


class RepoIndex:
    """The repository's Python modules (functions/, shared/, main.py) and their ASTs."""

    def __init__(self, root: Path, packages: Iterable[str] = CODE_PACKAGES, top_modules: Iterable[str] = ("main",)):
        self.root = root
        self.paths: dict[str, Path] = {}
        for package in packages:
            for path in sorted((root / package).rglob("*.py")):
                parts = path.relative_to(root).with_suffix("").parts
                name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
                self.paths[name] = path
        for module in top_modules:
            if (root / f"{module}.py").exists():
                self.paths[module] = root / f"{module}.py"
        self.trees = {name: ast.parse(path.read_text(), filename=str(path)) for name, path in self.paths.items()}
        self.defs = {name: {node.name: node for node in tree.body
                            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
                     for name, tree in self.trees.items()}
        self.names = {name: self._import_names(name, tree) for name, tree in self.trees.items()}
        self.constants = {name: self._string_constants(tree) for name, tree in self.trees.items()}

    def relpath(self, module: str) -> str:
        return self.paths[module].relative_to(self.root).as_posix()

    @staticmethod
    def _string_constants(tree: ast.Module) -> dict[str, str]:
        """Module-level `NAME = "text"` (or `NAME: str = "text"`) assignments."""
        constants: dict[str, str] = {}
        for stmt in tree.body:
            targets, value = [], None
            if isinstance(stmt, ast.Assign):
                targets, value = stmt.targets, stmt.value
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                targets, value = [stmt.target], stmt.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                constants.update({t.id: value.value for t in targets if isinstance(t, ast.Name)})
        return constants

    def resolve_str(self, module: str, node: ast.AST | None, depth: int = 0) -> str | None:
        """The text of a string literal, or of a module constant named here or imported from a repo module."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        name = node.id if isinstance(node, ast.Name) else None
        if name is None or depth > 5:
            return None
        if name in self.constants.get(module, {}):
            return self.constants[module][name]
        source, symbol = self.names.get(module, {}).get(name, (None, None))
        if symbol and source in self.paths:
            return self.resolve_str(source, ast.Name(id=symbol), depth + 1)
        return None

    def _absolute(self, module: str, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        package = module.split(".") if self.paths[module].name == "__init__.py" else module.split(".")[:-1]
        base = package[: len(package) - node.level + 1]
        return ".".join(base + ([node.module] if node.module else []))

    def _import_names(self, module: str, tree: ast.Module) -> dict[str, tuple[str, str | None]]:
        """Local name -> (module, symbol or None) for every import anywhere in the module."""
        names: dict[str, tuple[str, str | None]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        names[alias.asname] = (alias.name, None)
                    else:
                        names[alias.name.split(".")[0]] = (alias.name.split(".")[0], None)
            elif isinstance(node, ast.ImportFrom):
                source = self._absolute(module, node)
                for alias in node.names:
                    local = alias.asname or alias.name
                    dotted = f"{source}.{alias.name}"
                    names[local] = (dotted, None) if dotted in self.paths else (source, alias.name)
        return names

    def imported_modules(self, module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
        """Repo modules an import statement loads (with their parent packages)."""
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            source = self._absolute(module, node)
            targets = [source] + [f"{source}.{alias.name}" for alias in node.names]
        loaded: list[str] = []
        for target in targets:
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                candidate = ".".join(parts[:i])
                if candidate in self.paths and candidate not in loaded:
                    loaded.append(candidate)
        return loaded


def settings_fields() -> dict[str, SettingField]:
    from shared.config import Settings

    fields = {}
    for name, info in Settings.model_fields.items():
        fields[name] = SettingField(name, info.get_default(call_default_factory=True), "SecretStr" in str(info.annotation))
    return fields


def settings_method_reads(index: RepoIndex, field_names: set[str]) -> dict[str, set[str]]:
    """Methods of the Settings class -> the fields they read through self (price_of -> llm_pricing)."""
    for module, defs in index.defs.items():
        cls = defs.get("Settings")
        if isinstance(cls, ast.ClassDef):
            methods = {}
            for item in cls.body:
                if isinstance(item, ast.FunctionDef):
                    methods[item.name] = {n.attr for n in ast.walk(item) if isinstance(n, ast.Attribute)
                                          and isinstance(n.value, ast.Name) and n.value.id == "self"
                                          and n.attr in field_names}
            return methods
    return {}


def reachable(index: RepoIndex, module: str, entry: str, field_names: set[str]) -> tuple[set[str], set[str]]:
    """Settings fields read, and repo modules loaded, by code reachable from `module.entry`.

    Follows, from the entry point's module and function: imports of repo modules (their module-level
    code runs), names and module attributes that resolve to repo functions or classes (called or passed
    as values; a class brings all its methods). A read is an attribute named like a Settings field on
    an expression mentioning "settings" (settings.x, get_settings().x, self._settings.x). Calls through
    objects held in variables (deps.model.generate) are not followed: configuration is read in
    composition code (shared/bootstrap.py), which is reached by name.
    """
    method_reads = settings_method_reads(index, field_names)
    reads: set[str] = set()
    modules: set[str] = set()
    seen: set[tuple[str, str]] = set()
    work: list[tuple[str, str]] = [("main", "<module>")] if "main" in index.paths else []
    work += [(module, "<module>"), (module, entry)]

    def enqueue_module(name: str) -> None:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            candidate = ".".join(parts[:i])
            if candidate in index.paths:
                work.append((candidate, "<module>"))

    def resolve(mod: str, name: str, depth: int = 0) -> tuple[str, str] | tuple[str, None] | None:
        if depth > 5:
            return None
        if name in index.defs.get(mod, {}):
            return (mod, name)
        target = index.names.get(mod, {}).get(name)
        if target is None:
            return None
        source, symbol = target
        if symbol is None:
            return (source, None) if source in index.paths else None
        if source in index.paths:
            return resolve(source, symbol, depth + 1)
        return None

    def visit(mod: str, nodes: Iterable[ast.AST]) -> None:
        nodes = list(nodes)
        # Names bound to a settings object under another name: `cfg = get_settings()`.
        aliases = {target.id for root in nodes for node in ast.walk(root) if isinstance(node, ast.Assign)
                   and "settings" in ast.unparse(node.value).lower()
                   for target in node.targets if isinstance(target, ast.Name)}
        for root in nodes:
            for node in ast.walk(root):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    for loaded in index.imported_modules(mod, node):
                        enqueue_module(loaded)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                    target = resolve(mod, node.id)
                    if target and target[1]:
                        work.append((target[0], target[1]))
                        enqueue_module(target[0])
                elif isinstance(node, ast.Attribute):
                    holder = ast.unparse(node.value)
                    if "settings" in holder.lower() or holder in aliases:
                        if node.attr in field_names:
                            reads.add(node.attr)
                        reads.update(method_reads.get(node.attr, set()))
                    if isinstance(node.value, ast.Name):
                        target = resolve(mod, node.value.id)
                        if target and target[1] is None and node.attr in index.defs.get(target[0], {}):
                            work.append((target[0], node.attr))
                            enqueue_module(target[0])

    while work:
        mod, unit = work.pop()
        if (mod, unit) in seen or mod not in index.trees:
            continue
        seen.add((mod, unit))
        modules.add(mod)
        if unit == "<module>":
            body: list[ast.AST] = []
            for stmt in index.trees[mod].body:
                if isinstance(stmt, ast.If) and ast.unparse(stmt.test).endswith("TYPE_CHECKING"):
                    body += stmt.orelse  # annotations only: nothing is imported at run time
                elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                    body += [*stmt.decorator_list, stmt.args]
                elif isinstance(stmt, ast.ClassDef):
                    body += [*stmt.decorator_list, *stmt.bases]
                    for item in stmt.body:
                        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                            body += [*item.decorator_list, item.args]
                        else:
                            body.append(item)
                else:
                    body.append(stmt)
            visit(mod, body)
        else:
            node = index.defs[mod].get(unit)
            if node is not None:
                visit(mod, [node])
    return reads, modules


def _log_facts(index: RepoIndex) -> tuple[dict[str, set[str]], set[str]]:
    lines: dict[str, set[str]] = {}
    bound: set[str] = {"function"}  # log.configure(function_name) puts it on every line
    for tree in index.trees.values():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            func = node.func
            kwargs = {kw.arg for kw in node.keywords if kw.arg}
            if isinstance(func.value, ast.Name) and func.value.id == "log":
                if func.attr == "log" and len(node.args) >= 3 and isinstance(node.args[2], ast.Constant):
                    lines.setdefault(str(node.args[2].value), set()).update(kwargs)
                elif func.attr == "bound":
                    bound.update(kwargs)
            elif func.attr in {"debug", "info", "warning", "error", "exception", "critical"} and node.args \
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                lines.setdefault(node.args[0].value, set())
    return lines, bound


@dataclass(frozen=True)
class VectorQuery:
    """A find_nearest query of the code: what its vector index must hold. None = not resolvable statically."""

    collection: str | None
    query_scope: str  # COLLECTION or COLLECTION_GROUP
    prefilter_fields: tuple[str | None, ...]  # fields of its where() pre-filters, sorted
    vector_field: str | None
    where: str  # module:line, for messages


_QUERY_LINKS = {"where", "select", "limit", "order_by", "offset", "start_at", "start_after", "end_at",
                "end_before", "find_nearest", "collection", "collection_group"}


def _scopes(tree: ast.Module) -> Iterable[tuple[ast.FunctionDef | ast.AsyncFunctionDef, ast.ClassDef | None]]:
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            yield stmt, None
        elif isinstance(stmt, ast.ClassDef):
            for item in stmt.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    yield item, stmt


def _returned(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST | None:
    returns = [node.value for node in ast.walk(fn) if isinstance(node, ast.Return) and node.value is not None]
    return returns[-1] if returns else None


def _assignments(fn: ast.AST) -> dict[str, ast.AST]:
    return {target.id: node.value for node in ast.walk(fn) if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


def _filter_field(index: RepoIndex, module: str, call: ast.Call) -> str | None:
    """The field of .where(filter=FieldFilter("f", op, v)) or of the positional .where("f", op, v)."""
    arg = next((kw.value for kw in call.keywords if kw.arg == "filter"), None)
    if isinstance(arg, ast.Call) and arg.args:
        return index.resolve_str(module, arg.args[0])
    return index.resolve_str(module, call.args[0]) if call.args else None


def vector_queries(index: RepoIndex) -> set[VectorQuery]:
    """Every find_nearest query: its collection, pre-filter fields and vector field.

    Follows the query's receiver back through query methods (where, select, limit...), local variables,
    and helper methods of the same class or module (self._chunks(t) -> ....collection(CHUNKS)), resolving
    names of module constants. What cannot be followed is reported as None.
    """
    found: set[VectorQuery] = set()
    for module, tree in index.trees.items():
        methods_of = {}
        for fn, cls in _scopes(tree):
            if cls is not None:
                methods_of.setdefault(cls.name, {})[fn.name] = fn
        for fn, cls in _scopes(tree):
            for node in ast.walk(fn):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "find_nearest"):
                    continue
                vector_arg = next((kw.value for kw in node.keywords if kw.arg == "vector_field"),
                                  node.args[0] if node.args else None)
                filters: list[str | None] = []
                collection, scope = None, "COLLECTION"
                expr, assigns, steps = node.func.value, _assignments(fn), 0
                while steps < 50:
                    steps += 1
                    if isinstance(expr, ast.Name) and expr.id in assigns:
                        expr = assigns.pop(expr.id)
                        continue
                    if not isinstance(expr, ast.Call):
                        break
                    func = expr.func
                    if isinstance(func, ast.Attribute) and func.attr in ("collection", "collection_group"):
                        collection = index.resolve_str(module, expr.args[0]) if expr.args else None
                        scope = "COLLECTION_GROUP" if func.attr == "collection_group" else "COLLECTION"
                        break
                    helper = None
                    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
                            and func.value.id in ("self", "cls") and cls is not None:
                        helper = methods_of.get(cls.name, {}).get(func.attr)
                    elif isinstance(func, ast.Name) and isinstance(index.defs[module].get(func.id), ast.FunctionDef):
                        helper = index.defs[module][func.id]
                    if helper is not None:
                        expr, assigns = _returned(helper), _assignments(helper)
                        continue
                    if isinstance(func, ast.Attribute) and func.attr in _QUERY_LINKS:
                        if func.attr == "where":
                            filters.append(_filter_field(index, module, expr))
                        expr = func.value
                        continue
                    break
                found.add(VectorQuery(collection, scope, tuple(sorted(filters, key=str)),
                                      index.resolve_str(module, vector_arg), f"{index.relpath(module)}:{node.lineno}"))
    return found


# CloudEvent types of Google Cloud sources, as the code names them (google.cloud.storage.object.v1.finalized).
_EVENT_TYPE = re.compile(r"google\.cloud\.[a-z]+(\.[a-zA-Z]+)*\.v1\.[a-zA-Z]+")


def event_types(index: RepoIndex, module: str) -> set[str]:
    """The CloudEvent types an entry point's module names: string literals in it, and in the classes
    (StorageEventKind) and constants it imports from repo modules. Whole literals only (not docstrings)."""

    def literals(node: ast.AST) -> set[str]:
        return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                and _EVENT_TYPE.fullmatch(n.value)}

    found = literals(index.trees[module])
    for source, symbol in index.names.get(module, {}).values():
        if symbol is None or source not in index.trees:
            continue
        if symbol in index.defs[source]:
            found |= literals(index.defs[source][symbol])
        elif _EVENT_TYPE.fullmatch(index.constants[source].get(symbol, "")):
            found.add(index.constants[source][symbol])
    return found


def dispatch_deadlines(index: RepoIndex) -> set[str]:
    """Where the code sets a Cloud Tasks task's dispatch_deadline (a keyword, an attribute or a dict key)."""
    found = set()
    for module, tree in index.trees.items():
        for node in ast.walk(tree):
            named = (isinstance(node, ast.keyword) and node.arg in ("dispatch_deadline", "dispatchDeadline")) \
                or (isinstance(node, ast.Attribute) and node.attr == "dispatch_deadline") \
                or (isinstance(node, ast.Constant) and node.value in ("dispatch_deadline", "dispatchDeadline"))
            if named:
                found.add(f"{index.relpath(module)}:{getattr(node, 'lineno', getattr(node.value, 'lineno', 0))}")
    return found


@dataclass(frozen=True)
class GroupQuery:
    """A collection-group query of the code: what its index must hold. None = not resolvable statically."""

    collection: str | None
    equalities: tuple[str | None, ...]  # fields of ==, in, array_contains filters, sorted
    inequalities: tuple[str | None, ...]  # fields of <, <=, >, >=, !=, not-in filters, sorted
    order: tuple[tuple[str | None, str], ...]  # order_by (field, ASCENDING/DESCENDING), in sequence
    where: str  # module:line, for messages

    @property
    def single_field(self) -> str | None:
        """The field, when every filter and order of the query is on that one field."""
        names = set(self.equalities) | set(self.inequalities) | {f for f, _ in self.order}
        return next(iter(names)) if len(names) == 1 else None

    @property
    def single_field_order(self) -> str | None:
        """The direction a single-field index must have: the query's order, ascending for a range alone,
        None (either serves) for equalities alone."""
        if self.order:
            return self.order[0][1]
        return "ASCENDING" if self.inequalities else None

    @property
    def needs_composite_index(self) -> bool:
        """A query on one field (equality, range or order on it alone) is served by that field's
        single-field index; a composite index needs at least two fields, so anything more needs one."""
        return self.single_field is None

    def index_order(self) -> list[tuple[str | None, str]]:
        """The fields after the equality ones: the explicit order, then inequality fields it does not name
        (Firestore orders by them implicitly, ascending)."""
        ordered = [f for f, _ in self.order]
        implicit = [(f, "ASCENDING") for f in self.inequalities if f not in ordered]
        return list(self.order) + implicit

    def layout(self) -> str:
        return ", ".join([f"{f} (equality)" for f in self.equalities]
                         + [f"{f} {direction}" for f, direction in self.index_order()])


_EQUALITY_OPS = {"==", "in", "array_contains", "array_contains_any"}


def _parents(root: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(root) for child in ast.iter_child_nodes(node)}


def _links_above(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> tuple[list[ast.Call], ast.AST]:
    """Query-method calls applied on top of `node` (x.where(...).order_by(...)), innermost first, and the top."""
    links: list[ast.Call] = []
    top = node
    while True:
        attribute = parents.get(top)
        call = parents.get(attribute) if attribute is not None else None
        if not (isinstance(attribute, ast.Attribute) and attribute.value is top and attribute.attr in _QUERY_LINKS
                and isinstance(call, ast.Call) and call.func is attribute):
            return links, top
        links.append(call)
        top = call


def _direction(index: RepoIndex, module: str, call: ast.Call) -> str:
    positional = call.args[1] if len(call.args) > 1 else None
    arg = next((kw.value for kw in call.keywords if kw.arg == "direction"), positional)
    if arg is None:
        return "ASCENDING"
    if isinstance(arg, ast.Attribute):
        return arg.attr
    return (index.resolve_str(module, arg) or "?").upper()


def _filter_op(index: RepoIndex, module: str, call: ast.Call) -> str | None:
    arg = next((kw.value for kw in call.keywords if kw.arg == "filter"), None)
    if isinstance(arg, ast.Call) and len(arg.args) > 1:
        return index.resolve_str(module, arg.args[1])
    return index.resolve_str(module, call.args[1]) if len(call.args) > 1 else None


def group_queries(index: RepoIndex) -> set[GroupQuery]:
    """Every collection_group(...) query: its filters and order_by, followed through chained calls and a
    local variable the query is assigned to and refined on (query = query.where(...); query.limit(n))."""
    found: set[GroupQuery] = set()
    for module, tree in index.trees.items():
        for fn, _cls in _scopes(tree):
            parents = _parents(fn)
            for node in ast.walk(fn):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "collection_group"):
                    continue
                links, top = _links_above(node, parents)
                holder = parents.get(top)
                if isinstance(holder, ast.Assign) and [type(t) for t in holder.targets] == [ast.Name]:
                    name = holder.targets[0].id
                    for other in ast.walk(fn):
                        if isinstance(other, ast.Name) and other.id == name and isinstance(other.ctx, ast.Load):
                            links += _links_above(other, parents)[0]
                equalities: list[str | None] = []
                inequalities: list[str | None] = []
                order: list[tuple[str | None, str]] = []
                for link in sorted(links, key=lambda c: (c.lineno, c.col_offset)):
                    if link.func.attr == "where":
                        op = _filter_op(index, module, link)
                        target = equalities if op in _EQUALITY_OPS else inequalities
                        target.append(_filter_field(index, module, link) if op is not None else None)
                    elif link.func.attr == "order_by":
                        field_name = index.resolve_str(module, link.args[0]) if link.args else None
                        order.append((field_name, _direction(index, module, link)))
                collection = index.resolve_str(module, node.args[0]) if node.args else None
                found.add(GroupQuery(collection, tuple(sorted(set(equalities), key=str)),
                                     tuple(sorted(set(inequalities), key=str)), tuple(order),
                                     f"{index.relpath(module)}:{node.lineno}"))
    return found


def _last_collections(root: ast.AST, index: RepoIndex, module: str) -> set[str | None]:
    """Collections the documents of `root` are in: the outermost .collection(x) of each path expression
    (tenants/{t}/outbox -> outbox), names resolved through constants (None when they cannot be)."""
    calls = [n for n in ast.walk(root) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and n.func.attr == "collection"]
    inner: set[ast.AST] = set()
    for call in calls:
        expr: ast.AST = call.func.value
        while isinstance(expr, ast.Call | ast.Attribute):
            inner.add(expr)
            expr = expr.func if isinstance(expr, ast.Call) else expr.value
    return {index.resolve_str(module, c.args[0]) if c.args else None for c in calls if c not in inner}


def ttl_writes(index: RepoIndex) -> dict[str | None, set[str]]:
    """Collections whose documents the code writes with an `expire_at` (a dict key of a write): the
    collections the writing function names, directly or through a helper method of its class that
    returns the document (self._ref(event).update({... "expire_at": ...})). None: not found statically."""
    found: dict[str | None, set[str]] = {}
    for module, tree in index.trees.items():
        methods_of: dict[str, dict[str, ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        for fn, cls in _scopes(tree):
            if cls is not None:
                methods_of.setdefault(cls.name, {})[fn.name] = fn
        for fn, cls in _scopes(tree):
            writes = [n for n in ast.walk(fn) if isinstance(n, ast.Dict)
                      and any(isinstance(k, ast.Constant) and k.value == "expire_at" for k in n.keys)]
            if not writes:
                continue
            collections = _last_collections(fn, index, module)
            for node in ast.walk(fn):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                        and isinstance(node.func.value, ast.Name) and node.func.value.id == "self" and cls is not None:
                    helper = methods_of.get(cls.name, {}).get(node.func.attr)
                    if helper is not None and helper is not fn:
                        collections |= _last_collections(helper, index, module)
            for collection in collections or {None}:
                found.setdefault(collection, set()).add(f"{index.relpath(module)}:{writes[0].lineno}")
    return found


def entry_signature(index: RepoIndex, module: str, entry: str) -> str | None:
    """"http" or "cloud_event": the Functions Framework decorator of the entry point (None: neither found)."""
    node = index.defs.get(module, {}).get(entry)
    for decorator in getattr(node, "decorator_list", []):
        name = ast.unparse(decorator).split("(")[0].rsplit(".", 1)[-1]
        if name in ("http", "cloud_event"):
            return name
    return None


def publishes_with_ordering_keys(index: RepoIndex) -> bool:
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "publish"
               and any(kw.arg == "ordering_key" for kw in node.keywords)
               for tree in index.trees.values() for node in ast.walk(tree))


def load_code(root: Path = REPO) -> Code:
    import main
    from shared.domain.inbound import Provider

    index = RepoIndex(root)
    fields = settings_fields()
    reads, files, events = {}, {}, {}
    for entry, module in main._ENTRY_POINTS.items():
        read, modules = reachable(index, module, entry, set(fields))
        reads[entry] = read
        files[entry] = {index.relpath(m) for m in modules}
        events[entry] = event_types(index, module)
    lines, bound = _log_facts(index)
    source = "\n".join(path.read_text() for path in index.paths.values())
    collections = set(re.findall(r'\.collection(?:_group)?\(\s*"([^"]+)"\s*\)', source))
    # Collections named by a constant (CHUNKS = "knowledge_chunks"; .collection(CHUNKS)).
    collections |= {name for module, tree in index.trees.items() for node in ast.walk(tree)
                    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("collection", "collection_group") and node.args
                    and (name := index.resolve_str(module, node.args[0])) is not None}
    return Code(
        entry_points=dict(main._ENTRY_POINTS),
        settings=fields,
        reads=reads,
        files=files,
        log_lines=lines,
        bound_fields=bound,
        collections=collections,
        collection_group_queries=group_queries(index),
        providers={p.value for p in Provider if p.is_whatsapp},
        vector_queries=vector_queries(index),
        event_types=events,
        dispatch_deadlines=dispatch_deadlines(index),
        signatures={entry: entry_signature(index, module, entry) for entry, module in main._ENTRY_POINTS.items()},
        ttl_writes=ttl_writes(index),
        ordered_publishing=publishes_with_ordering_keys(index),
    )


@cache
def real_terraform() -> Terraform:
    return load_terraform()


@cache
def real_code() -> Code:
    return load_code()


# --- Checks --------------------------------------------------------------------------------------

Check = Callable[[Terraform, Code], list[str]]


def check_functions_match_entry_points(tf: Terraform, code: Code) -> list[str]:
    specs = set(tf.locals.get("function_specs", {}))
    problems = [f"entry point {e!r} (main._ENTRY_POINTS) has no entry in local.function_specs"
                for e in sorted(set(code.entry_points) - specs)]
    problems += [f"local.function_specs[{f!r}] is not an entry point of main.py: its build would fail"
                 for f in sorted(specs - set(code.entry_points))]
    envs = set(tf.locals.get("function_env", {}))
    problems += [f"local.function_env[{f!r}] has no function" for f in sorted(envs - specs)]
    problems += [f"function {f!r} has no local.function_env entry" for f in sorted(specs - envs)]
    return problems


def check_function_resource_is_wired_per_entry_point(tf: Terraform, code: Code) -> list[str]:
    fn = tf.resource("google_cloudfunctions2_function", "function")
    if not fn:
        return ["no resource google_cloudfunctions2_function.function"]
    build, service = _block(fn, "build_config"), _block(fn, "service_config")
    expected = {
        "for_each": (fn.get("for_each"), "local.function_specs"),
        "build_config.entry_point": (build.get("entry_point"), "each.key"),
        "build_config.runtime": (build.get("runtime"), "python311"),
        "service_config.environment_variables": (service.get("environment_variables"),
                                                 "merge(local.common_env, local.function_env[each.key])"),
    }
    problems = [f"google_cloudfunctions2_function.function {what} is {_expr(actual)!r}, expected {want!r}"
                for what, (actual, want) in expected.items() if _expr(actual) != want]
    secrets = _dynamic(service, "secret_environment_variables")
    if secrets is None or _expr(secrets.get("for_each")) != "each.value.secrets":
        problems.append("service_config must expose each.value.secrets as secret_environment_variables")
    return problems


def check_own_service_account_per_function(tf: Terraform, code: Code) -> list[str]:
    problems = []
    account = tf.resource("google_service_account", "function")
    if _expr(account.get("for_each")) != "local.function_specs":
        problems.append("google_service_account.function must have one account per function (for_each = local.function_specs)")
    service = _block(tf.resource("google_cloudfunctions2_function", "function"), "service_config")
    if _expr(service.get("service_account_email")) != "google_service_account.function[each.key].email":
        problems.append("each function must run as its own account: service_account_email = "
                        "google_service_account.function[each.key].email")
    ids: dict[str, str] = {}
    for fn in tf.locals.get("function_specs", {}):
        name = fn.replace("_", "-")
        account_id = f"fn-{name}"
        if len(account_id) > MAX_ACCOUNT_ID:
            problems.append(f"{fn}: service account id {account_id!r} exceeds {MAX_ACCOUNT_ID} characters")
        if len(name) > MAX_SERVICE_NAME:
            problems.append(f"{fn}: service name {name!r} is too long for Cloud Run's deterministic URL")
        if account_id in ids:
            problems.append(f"{fn} and {ids[account_id]} would share the account {account_id!r}")
        ids[account_id] = fn
    return problems


def required_settings(code: Code, fn: str) -> set[str]:
    """Settings fields the function's code reads that have no usable production default."""
    return {name for name in code.reads.get(fn, set())
            if name in code.settings and code.settings[name].must_set_in_production}


def check_required_settings_are_provided(tf: Terraform, code: Code) -> list[str]:
    problems = []
    for fn in code.entry_points:
        if fn not in tf.locals.get("function_specs", {}):
            continue  # reported by check_functions_match_entry_points
        env, secrets = function_env(tf, fn), function_secrets(tf, fn)
        for name in sorted(required_settings(code, fn)):
            setting = code.settings[name]
            if setting.secret:
                if setting.env not in secrets:
                    problems.append(f"{fn} reads {setting.env} (a secret with no production default) but "
                                    "Terraform does not give it from Secret Manager (function_specs.secrets)")
            elif setting.env not in env:
                problems.append(f"{fn} reads {setting.env}, which has no usable production default "
                                f"({setting.default!r}), but Terraform does not set it (local.function_env)")
    return problems


def check_env_names_are_settings(tf: Terraform, code: Code) -> list[str]:
    problems = []
    for fn in tf.locals.get("function_specs", {}):
        for env, how in [(e, "env") for e in function_env(tf, fn)] + [(e, "secret") for e in function_secrets(tf, fn)]:
            setting = code.settings.get(env.lower())
            if setting is None or env != env.upper():
                problems.append(f"{fn}: {how} {env} is not a Settings field (shared/config.py); typo?")
            elif setting.dev_only:
                problems.append(f"{fn}: {env} is a local-development setting and must not be set in production")
            elif setting.secret and how == "env":
                problems.append(f"{fn}: {env} is a secret; give it from Secret Manager, never as a plain value")
    return problems


def check_env_is_read_by_its_function(tf: Terraform, code: Code) -> list[str]:
    problems = []
    for fn, env in tf.locals.get("function_env", {}).items():
        for name in {**env, **function_secrets(tf, fn)}:
            if name.lower() in code.settings and name.lower() not in code.reads.get(fn, set()) \
                    and (fn, name) not in UNREAD_ENV_ALLOWED:
                problems.append(f"{fn} is given {name} but its code never reads settings.{name.lower()} "
                                "(set on the wrong function?)")
    return problems


def check_infrastructure_names_exist(tf: Terraform, code: Code) -> list[str]:
    """Queue, topic and bucket names in Settings and in function_specs name resources that exist."""
    queues = set(tf.locals.get("queues", {}))
    topics = set(tf.locals.get("topics", {}))
    buckets = set(tf.locals.get("buckets", {}))
    kinds = {"_queue": ("queue", queues, "google_cloud_tasks_queue.queue"),
             "_topic": ("topic", topics, "google_pubsub_topic.topic"),
             "_bucket": ("bucket", buckets, "google_storage_bucket.bucket")}
    problems = []
    for setting in code.settings.values():
        for suffix, (kind, existing, address) in kinds.items():
            if not setting.name.endswith(suffix):
                continue
            # Bucket names are global, so a bucket default can never be the production name.
            if kind != "bucket" and isinstance(setting.default, str) and setting.default not in existing:
                problems.append(f"the code's default {setting.env}={setting.default!r} names no {kind} in Terraform")
            for fn in tf.locals.get("function_specs", {}):
                value = function_env(tf, fn).get(setting.env)
                if value is None:
                    continue
                referenced = _keys_referenced(value, address)
                if not referenced and value not in existing:
                    problems.append(f"{fn}: {setting.env} should reference the {kind} Terraform creates ({address}[...])")
                problems += [f"{fn}: {setting.env} references unknown {kind} {key!r}" for key in sorted(referenced - existing)]
    for fn, spec in tf.locals.get("function_specs", {}).items():
        problems += [f"{fn} enqueues to unknown queue {q!r}" for q in spec.get("enqueues") or [] if q not in queues]
        problems += [f"{fn} publishes to unknown topic {t!r}" for t in spec.get("publishes") or [] if t not in topics]
        problems += [f"{fn} has a role on unknown bucket {b!r}" for b in (spec.get("bucket_roles") or {}) if b not in buckets]
        problems += [f"{fn} reads unknown secret {s!r}" for s in function_secrets(tf, fn).values()
                     if s not in tf.locals.get("secrets", {})]
        for trigger in _triggers(spec):
            if trigger.get("pubsub_topic") and trigger["pubsub_topic"] not in topics:
                problems.append(f"{fn} is triggered by unknown topic {trigger['pubsub_topic']!r}")
            if trigger.get("bucket") and trigger["bucket"] not in buckets:
                problems.append(f"{fn} is triggered by unknown bucket {trigger['bucket']!r}")
    specs = tf.locals.get("function_specs", {})
    for name, queue in tf.locals.get("queues", {}).items():
        if queue.get("target") not in specs:
            problems.append(f"queue {name!r} targets {queue.get('target')!r}, which is no function")
    for name, job in tf.locals.get("scheduler_jobs", {}).items():
        if job.get("target") not in specs:
            problems.append(f"scheduler job {name!r} targets {job.get('target')!r}, which is no function")
    for name, topic in tf.locals.get("topics", {}).items():
        if topic.get("dead_letter") and topic["dead_letter"] not in topics:
            problems.append(f"topic {name!r} dead-letters to unknown topic {topic['dead_letter']!r}")
    used_secrets = {s for fn in specs for s in function_secrets(tf, fn).values()}
    problems += [f"secret {s!r} is read by no function (an operator would set a value nobody uses)"
                 for s in sorted(set(tf.locals.get("secrets", {})) - used_secrets)]
    return problems


_PUBLIC_FILTER = "{for fn, spec in local.function_specs : fn => spec if spec.public}"


def _members(body: Any) -> Iterable[str]:
    if isinstance(body, dict):
        for key, value in body.items():
            if key in {"member", "members"}:
                yield from (value if isinstance(value, list) else [value])
            else:
                yield from _members(value)
    elif isinstance(body, list):
        for item in body:
            yield from _members(item)


def check_private_functions_are_private(tf: Terraform, code: Code) -> list[str]:
    problems = []
    for rtype, by_name in tf.resources.items():
        for name, body in by_name.items():
            if not any(str(m) in {"allUsers", "allAuthenticatedUsers"} for m in _members(body)):
                continue
            if (rtype, name) != ("google_cloud_run_v2_service_iam_member", "public_invoker"):
                problems.append(f"{rtype}.{name} grants to allUsers/allAuthenticatedUsers; only public "
                                "functions' run.invoker may (iam.tf, public_invoker)")
            elif _expr(body.get("for_each")) != "local.public_functions":
                problems.append("the allUsers invoker must be limited to local.public_functions")
    if _expr(tf.locals.get("public_functions")) != _PUBLIC_FILTER:
        problems.append(f"local.public_functions must be {_PUBLIC_FILTER!r}")
    for fn, spec in tf.locals.get("function_specs", {}).items():
        if spec.get("public") is True and fn not in PUBLIC_BY_DESIGN:
            problems.append(f"{fn} is public (allUsers invoker) but does not authenticate callers in code "
                            "(tests/infra/tfcheck.py PUBLIC_BY_DESIGN)")
        if spec.get("public") not in (True, False):
            problems.append(f"{fn}: function_specs.public must be true or false")
    return problems


def check_no_secret_values_in_terraform(tf: Terraform, code: Code) -> list[str]:
    problems = []
    if "google_secret_manager_secret_version" in tf.resources:
        problems.append("google_secret_manager_secret_version puts a secret value in the state; add versions with gcloud")
    for name, text in tf.texts.items():
        code_only = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
        if re.search(r"\bsecret_data\b", code_only):
            problems.append(f"{name}: secret_data writes a secret value into the configuration and state")
        for pattern in SECRET_LOOKING:
            for match in pattern.finditer(code_only):
                problems.append(f"{name}: {match.group(0)[:12]}... looks like a secret value")
    for variable in tf.variables:
        if SECRET_VARIABLE_NAME.search(variable) and variable != "secret_versions":
            problems.append(f"variable {variable!r} looks like it carries a secret value; use Secret Manager")
    return problems


def check_log_metrics_match_log_lines(tf: Terraform, code: Code) -> list[str]:
    problems = []
    for name, metric in tf.locals.get("log_metrics", {}).items():
        message = metric.get("message")
        if message is None:
            if not metric.get("severity"):
                problems.append(f"log metric {name} has neither a message nor a severity")
            fields = code.bound_fields
        elif message not in code.log_lines:
            problems.append(f"log metric {name} counts {message!r}, which no code logs any more")
            continue
        else:
            fields = code.log_lines[message] | code.bound_fields
        wanted = set((metric.get("labels") or {}).values()) | ({metric["value"]} if metric.get("value") else set())
        problems += [f"log metric {name}: field {f!r} is not logged with {message or 'every line'!r}"
                     for f in sorted(wanted - fields)]
    return problems


def check_dashboard_uses_defined_metrics(tf: Terraform, code: Code) -> list[str]:
    metrics = tf.locals.get("log_metrics", {})
    problems = []
    for name, text in tf.texts.items():
        for ref in sorted(set(re.findall(r"logging_googleapis_com:user_(\w+)", text))):
            base = ref
            suffix = next((s for s in ("_sum", "_count", "_bucket") if ref.endswith(s) and ref[: -len(s)] in metrics), "")
            base = ref[: -len(suffix)] if suffix else ref
            if base not in metrics:
                problems.append(f"{name} charts log-based metric {ref!r}, which logmetrics.tf does not define")
            elif suffix and not metrics[base].get("value"):
                problems.append(f"{name}: {base} is a counter; it has no {suffix}")
            elif not suffix and metrics[base].get("value"):
                problems.append(f"{name}: {base} is a distribution; chart its _sum, _count or _bucket")
        # Alert conditions name a metric by type, or through the metric resource (which also orders them).
        referenced = set(re.findall(r"logging\.googleapis\.com/user/(\w+)", text))
        referenced |= _keys_referenced(text, "google_logging_metric.metric")
        problems += [f"{name} uses log-based metric {ref!r}, which logmetrics.tf does not define"
                     for ref in sorted(referenced - set(metrics))]
    return problems


def _index_fields(index: dict[str, Any]) -> list[tuple[Any, Any]]:
    """(field_path, order) of a composite index, without the __name__ Firestore appends at the end."""
    fields = [(f.get("field_path"), f.get("order")) for f in index.get("fields") or []]
    while fields and fields[-1][0] == "__name__":
        fields.pop()
    return fields


def _serves(index: dict[str, Any], query: GroupQuery) -> bool:
    fields = _index_fields(index)
    n = len(query.equalities)
    return (index.get("collection") == query.collection and index.get("query_scope") == "COLLECTION_GROUP"
            and len(fields) == n + len(query.index_order())
            and {f for f, _ in fields[:n]} == set(query.equalities)
            and fields[n:] == query.index_order())


def check_firestore_matches_queries(tf: Terraform, code: Code) -> list[str]:
    """Every collection-group query has its index: a single-field collection-group index for one equality
    filter alone (local.firestore_fields), else a composite one (local.firestore_indexes): the equality
    fields, then the query's order (explicit order_by, then its inequality fields). And every collection
    named here is one the code uses."""
    problems = []
    fields = tf.locals.get("firestore_fields", {})
    indexes = tf.locals.get("firestore_indexes", {})
    for kind in ("firestore_fields", "firestore_ttl_fields", "firestore_indexes"):
        for key, item in tf.locals.get(kind, {}).items():
            if item.get("collection") not in code.collections:
                problems.append(f"{kind}[{key!r}]: collection {item.get('collection')!r} is used nowhere in the code")
    used: set[str] = set()
    for query in sorted(code.collection_group_queries, key=lambda q: q.where):
        if query.collection is None or None in query.equalities + query.inequalities \
                or None in [f for f, _ in query.order]:
            problems.append(f"{query.where}: collection-group query whose collection or fields cannot be read "
                            "statically; name them with string literals or module constants")
            continue
        if not query.needs_composite_index:
            field_name, order = query.single_field, query.single_field_order
            indexed = any(item.get("collection") == query.collection and item.get("field") == field_name
                          and any(i.get("query_scope") == "COLLECTION_GROUP" and order in (None, i.get("order"))
                                  for i in item.get("indexes", []))
                          for item in fields.values())
            if not indexed:
                problems.append(f"the code queries collection group {query.collection!r} on {field_name!r} "
                                f"({query.where}); local.firestore_fields needs its COLLECTION_GROUP index"
                                + (f" ({order})" if order else ""))
            continue
        serving = [key for key, index in indexes.items() if _serves(index, query)]
        if not serving:
            problems.append(f"{query.where}: the collection-group query on {query.collection!r} needs a "
                            f"COLLECTION_GROUP composite index in local.firestore_indexes: {query.layout()}")
        used.update(serving)
    for key, index in indexes.items():
        is_vector = any(f.get("vector_dimension") is not None for f in index.get("fields") or [])
        if index.get("query_scope") == "COLLECTION_GROUP" and not is_vector and key not in used:
            problems.append(f"firestore_indexes[{key!r}] is a collection-group index no query of the code uses "
                            "(every write pays for it)")
    return problems


def check_expiring_documents_have_ttl_policies(tf: Terraform, code: Code) -> list[str]:
    """A collection whose documents the code gives an expire_at has a TTL policy on it, or nothing is ever
    deleted (leads' data kept forever, LGPD); a TTL policy on a field the code never writes does nothing."""
    ttl = {(item.get("collection"), item.get("field")) for item in tf.locals.get("firestore_ttl_fields", {}).values()}
    problems = []
    for collection, wheres in sorted(code.ttl_writes.items(), key=lambda kv: str(kv[0])):
        where = ", ".join(sorted(wheres))
        if collection is None:
            problems.append(f"{where}: writes expire_at on documents of a collection the analysis cannot name; "
                            "reach the collection through a helper method or a constant")
        elif (collection, "expire_at") not in ttl:
            problems.append(f"{collection}.expire_at is written ({where}) but local.firestore_ttl_fields has no TTL "
                            "policy on it: those documents are never deleted")
    problems += [f"firestore_ttl_fields: TTL on {c}.{f}, which the code never writes" for c, f in sorted(ttl, key=str)
                 if f == "expire_at" and c not in code.ttl_writes]
    return problems


_INDEX_ORDERS = ("ASCENDING", "DESCENDING")


def _untostring(value: Any) -> str:
    """An env value's expression without tostring(): what it converts (var.knowledge.embedding_dimensions)."""
    text = _expr(value)
    match = re.fullmatch(r"tostring\((.*)\)", text)
    return match.group(1).strip() if match else text


def check_vector_indexes_serve_vector_queries(tf: Terraform, code: Code) -> list[str]:
    """Every find_nearest query has its vector index, built for the dimension the functions embed with."""
    problems = []
    indexes = tf.locals.get("firestore_indexes", {})
    vector_indexes = {}
    for key, index in indexes.items():
        fields = index.get("fields") or []
        if index.get("query_scope") not in ("COLLECTION", "COLLECTION_GROUP"):
            problems.append(f"firestore_indexes[{key!r}]: query_scope must be COLLECTION or COLLECTION_GROUP")
        for f in fields:
            has_order, has_vector = f.get("order") is not None, f.get("vector_dimension") is not None
            if not f.get("field_path"):
                problems.append(f"firestore_indexes[{key!r}]: a field without field_path")
            if has_order == has_vector:
                problems.append(f"firestore_indexes[{key!r}].{f.get('field_path')}: needs exactly one of order and "
                                "vector_dimension (the other null)")
            elif has_order and f["order"] not in _INDEX_ORDERS:
                problems.append(f"firestore_indexes[{key!r}].{f.get('field_path')}: order must be ASCENDING or "
                                "DESCENDING")
        vectors = [i for i, f in enumerate(fields) if f.get("vector_dimension") is not None]
        if len(vectors) > 1:
            problems.append(f"firestore_indexes[{key!r}]: an index holds at most one vector field")
        elif vectors:
            i = vectors[0]
            if i != len(fields) - 1:
                problems.append(f"firestore_indexes[{key!r}]: the vector field must be the last field")
            elif i == 0 or fields[i - 1].get("field_path") != "__name__":
                problems.append(f"firestore_indexes[{key!r}]: declare __name__ (ASCENDING) right before the vector "
                                "field, where Firestore stores it; otherwise every plan shows a diff and the "
                                "immutable index is replaced at each apply")
            else:
                vector_indexes[key] = index

    # The dimension every function embeds with: one, or vectors written and queried would not compare.
    default = code.settings["embedding_dimensions"].default if "embedding_dimensions" in code.settings else None
    dimensions = {fn: _untostring(function_env(tf, fn)["EMBEDDING_DIMENSIONS"])
                  if "EMBEDDING_DIMENSIONS" in function_env(tf, fn) else str(default)
                  for fn in tf.locals.get("function_specs", {}) if "embedding_dimensions" in code.reads.get(fn, set())}
    if len(set(dimensions.values())) > 1:
        problems.append("functions embed with different EMBEDDING_DIMENSIONS, so stored and queried vectors would "
                        f"not compare: {dict(sorted(dimensions.items()))}")
    expected = next(iter(dimensions.values())) if len(set(dimensions.values())) == 1 else None

    used: set[str] = set()
    for query in sorted(code.vector_queries, key=lambda q: q.where):
        if query.collection is None or query.vector_field is None or None in query.prefilter_fields:
            problems.append(f"{query.where}: find_nearest whose collection or fields cannot be read statically; "
                            "name them with string literals or module constants")
            continue
        wanted = set(query.prefilter_fields)
        serving = [key for key, index in vector_indexes.items()
                   if index.get("collection") == query.collection and index.get("query_scope") == query.query_scope
                   and index["fields"][-1].get("field_path") == query.vector_field
                   and {f.get("field_path") for f in index["fields"][:-2]} == wanted]
        if not serving:
            layout = ", ".join([*query.prefilter_fields, "__name__", f"{query.vector_field} (vector)"])
            problems.append(f"{query.where}: find_nearest on {query.collection}.{query.vector_field} needs a "
                            f"{query.query_scope} vector index in local.firestore_indexes: {layout}")
        used.update(serving)
        for key in serving:
            dimension = _expr(indexes[key]["fields"][-1]["vector_dimension"])
            if expected is not None and dimension != expected:
                problems.append(f"firestore_indexes[{key!r}] is built for {dimension} dimensions but the functions "
                                f"embed with EMBEDDING_DIMENSIONS = {expected}: queries would find nothing")
    problems += [f"firestore_indexes[{key!r}] is a vector index no find_nearest query of the code uses"
                 for key in sorted(set(vector_indexes) - used)]
    return problems


def _triggers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """A function's event triggers: its own (function_specs.trigger) and the extra ones (eventarc.tf)."""
    return ([spec["trigger"]] if spec.get("trigger") else []) + list(spec.get("extra_triggers") or [])


_EVENTARC_ACCOUNT = 'google_service_account.invoker["eventarc"].email'


def check_event_triggers_deliver_what_the_code_handles(tf: Terraform, code: Code) -> list[str]:
    """Each event function is sent the event types its code handles, by triggers that can deliver them."""
    problems = []
    specs = tf.locals.get("function_specs", {})
    for fn, spec in specs.items():
        triggers = _triggers(spec)
        if not triggers:
            continue
        delivered = [t.get("event_type") for t in triggers]
        routes = [(t.get("event_type"), t.get("bucket"), t.get("pubsub_topic")) for t in triggers]
        problems += [f"{fn} is sent {r[0]} twice (every event would arrive twice)"
                     for r in sorted({r for r in routes if routes.count(r) > 1}, key=str)]
        handled = code.event_types.get(fn, set())
        problems += [f"{fn}'s code handles {t}, but no trigger delivers it (function_specs.trigger or extra_triggers)"
                     for t in sorted(handled - set(delivered))]
        if handled:  # the code names the types it handles: anything else would be dropped
            problems += [f"{fn} is sent {t}, which its code does not handle" for t in sorted(set(delivered) - handled)]
    if any(spec.get("extra_triggers") for spec in specs.values()):
        trigger = tf.resource("google_eventarc_trigger", "trigger")
        if _expr(trigger.get("for_each")) != "local.eventarc_triggers":
            problems.append("extra_triggers need google_eventarc_trigger.trigger with "
                            "for_each = local.eventarc_triggers")
        elif _expr(trigger.get("service_account")) != _EVENTARC_ACCOUNT:
            problems.append(f"google_eventarc_trigger.trigger must deliver as {_EVENTARC_ACCOUNT}, the account "
                            "granted run.invoker on its functions")
        if "extra_triggers" not in str(tf.locals.get("private_invocations")):
            problems.append("local.private_invocations must grant the eventarc invoker run.invoker on functions "
                            "with extra_triggers too, or their events are refused")
    if any(t.get("bucket") for spec in specs.values() for t in _triggers(spec)):
        grants = [body for body in tf.resources.get("google_project_iam_member", {}).values()
                  if body.get("role") == "roles/pubsub.publisher"
                  and "google_storage_project_service_account" in f"{body.get('for_each')} {body.get('member')}"]
        if not grants:
            problems.append("Cloud Storage triggers need Cloud Storage's service agent (data "
                            "google_storage_project_service_account) to hold roles/pubsub.publisher")
    return problems


def check_webhook_urls_cover_providers(tf: Terraform, code: Code) -> list[str]:
    listed = set(tf.locals.get("webhook_providers", []))
    problems = [f"output webhook_urls lacks provider {p!r}" for p in sorted(code.providers - listed)]
    problems += [f"output webhook_urls names {p!r}, which is no provider of the code" for p in sorted(listed - code.providers)]
    return problems


def setting_number(tf: Terraform, code: Code, fn: str, setting: str) -> float | None:
    """The value of a numeric setting a function runs with: what Terraform sets (a variable's default), else the
    code's default."""
    env = function_env(tf, fn)
    if setting.upper() in env:
        return number_of(tf, env[setting.upper()])
    default = code.settings[setting].default if setting in code.settings else None
    return default if isinstance(default, int | float) and not isinstance(default, bool) else None


def check_leases_outlast_their_functions(tf: Terraform, code: Code) -> list[str]:
    problems = []
    specs = tf.locals.get("function_specs", {})
    for fn, setting, what, consequence in LEASES:
        if fn not in specs or setting not in code.reads.get(fn, set()):
            continue
        lease = setting_number(tf, code, fn, setting)
        timeout = specs[fn].get("timeout_seconds")
        if lease is None or not isinstance(timeout, int | float) or timeout >= lease:
            problems.append(f"{fn}'s timeout ({timeout} s) must be below {what} ({lease} s), or {consequence}")
            continue
        # A crashed delivery keeps its lease: its queue must still be retrying once the lease has expired.
        for name, queue in tf.locals.get("queues", {}).items():
            times = queue_retry_times(tf, queue) if queue.get("target") == fn else None
            if times is not None and times[-1] < 2 * lease:
                problems.append(f"queue {name!r} stops retrying {times[-1]:g} s after a task's first attempt, less "
                                f"than twice {what} ({lease:g} s): work a crashed delivery leased is never retried")
        # The same for a push subscription: its redeliveries must go on past the lease before it dead-letters.
        for name, sub in tf.locals.get("push_subscriptions", {}).items():
            times = subscription_retry_times(tf, sub) if sub.get("target") == fn else None
            if sub.get("target") == fn and times is None:
                problems.append(f"push subscription {name!r}: its retry policy cannot be read statically")
            elif times is not None and times[-1] < 2 * lease:
                problems.append(f"push subscription {name!r} stops redelivering about {times[-1]:g} s after an "
                                f"event's first push, less than twice {what} ({lease:g} s): an event a crashed "
                                "delivery leased is dead-lettered instead of retried")
    return problems


def subscription_retry_times(tf: Terraform, sub: dict[str, Any]) -> list[float] | None:
    """When each push of a message that keeps failing happens, in seconds after the first, until the
    dead-letter policy's attempts are spent. Pub/Sub documents no exact formula for its exponential
    backoff; doubling from the minimum, capped at the maximum, is the estimate (ack deadlines ignored)."""
    attempts = number_of(tf, sub.get("max_delivery_attempts"))
    low = number_of(tf, sub.get("minimum_backoff_seconds"))
    high = number_of(tf, sub.get("maximum_backoff_seconds"))
    if attempts is None or low is None or high is None:
        return None
    times = [0.0]
    for i in range(int(attempts) - 1):
        times.append(times[-1] + min(high, low * 2 ** i))
    return times


def check_time_budgets_end_before_the_timeout(tf: Terraform, code: Code) -> list[str]:
    problems = []
    specs = tf.locals.get("function_specs", {})
    for fn, setting in TIME_BUDGETS:
        if fn not in specs or setting not in code.reads.get(fn, set()):
            continue
        budget = setting_number(tf, code, fn, setting)
        timeout = specs[fn].get("timeout_seconds")
        if budget is None or not isinstance(timeout, int | float) or budget >= timeout:
            problems.append(f"{fn}'s {setting.upper()} ({budget} s) must be below its timeout ({timeout} s), or "
                            "long runs are killed mid-way instead of stopping between pages")
    return problems


def check_scheduler_jobs_wait_for_their_targets(tf: Terraform, code: Code) -> list[str]:
    problems = []
    specs = tf.locals.get("function_specs", {})
    low, high = SCHEDULER_DEADLINE_RANGE
    for name, job in tf.locals.get("scheduler_jobs", {}).items():
        deadline = seconds_of(job.get("attempt_deadline"))
        timeout = specs.get(job.get("target"), {}).get("timeout_seconds")
        if deadline is None or not low <= deadline <= high:
            problems.append(f"scheduler job {name!r}: attempt_deadline {job.get('attempt_deadline')!r} must be "
                            f"{low}s to {high}s")
        elif isinstance(timeout, int | float) and deadline < timeout:
            problems.append(f"scheduler job {name!r}: attempt_deadline {deadline:g} s is shorter than "
                            f"{job.get('target')}'s timeout ({timeout} s): runs still going are recorded as failed")
    return problems


def check_queue_settings_mirror_their_queues(tf: Terraform, code: Code) -> list[str]:
    """A setting that repeats a queue's retry configuration is set from the same expression as the queue."""
    problems = []
    queues = tf.locals.get("queues", {})
    for setting, queue_key, attribute in QUEUE_MIRRORS:
        readers = sorted(fn for fn in tf.locals.get("function_specs", {}) if setting in code.reads.get(fn, set()))
        if not readers:
            continue
        env_name = setting.upper()
        if queue_key not in queues:
            problems += [f"{fn} reads {env_name}, the {attribute} of queue {queue_key!r}, which Terraform does not "
                         "create" for fn in readers]
            continue
        want = _untostring(queues[queue_key].get(attribute))
        for fn in readers:
            value = function_env(tf, fn).get(env_name)
            if value is None:
                default = code.settings[setting].default if setting in code.settings else None
                problems.append(f"{fn} runs with the code's default {env_name}={default!r}, but queue "
                                f"{queue_key!r} has {attribute} = {want}: set {env_name} from the same expression "
                                "as the queue")
            elif _untostring(value) != want:
                problems.append(f"{fn}: {env_name} = {_untostring(value)} but queue {queue_key!r} has "
                                f"{attribute} = {want}: give both one expression (a variable), or they drift apart")
    return problems


def check_turns_outlast_the_media_wait(tf: Terraform, code: Code) -> list[str]:
    """A turn waiting for media (425) must still be retried after the wait ends: if media_processor dies and
    never wakes it, the queue's retries alone must reach past the bound, with as long again to spare."""
    problems = []
    for fn in tf.locals.get("function_specs", {}):
        if "media_wait_seconds" not in code.reads.get(fn, set()):
            continue
        wait = setting_number(tf, code, fn, "media_wait_seconds")
        for name, queue in tf.locals.get("queues", {}).items():
            if queue.get("target") != fn:
                continue
            times = queue_retry_times(tf, queue)
            if wait is None or times is None:
                problems.append(f"queue {name!r}: its retry window or {fn}'s MEDIA_WAIT_SECONDS cannot be read "
                                "statically")
            elif times[-1] < 2 * wait:
                problems.append(f"queue {name!r} stops retrying {times[-1]:g} s after a turn's first attempt, less "
                                f"than twice MEDIA_WAIT_SECONDS ({wait:g} s): a turn waiting for a file a dead "
                                "media processor never reads may never answer (raise max_retry_duration)")
    return problems


def check_queue_targets_finish_within_the_dispatch_deadline(tf: Terraform, code: Code) -> list[str]:
    """Cloud Tasks cancels an attempt at its dispatch deadline and retries while the function may still run."""
    default = DEFAULT_DISPATCH_DEADLINE_SECONDS
    problems = [f"{where}: the code sets a task dispatch_deadline; this check assumes Cloud Tasks' default "
                f"({default} s): compare it with the targets' timeouts and update the check"
                for where in sorted(code.dispatch_deadlines)]
    specs = tf.locals.get("function_specs", {})
    for name, queue in tf.locals.get("queues", {}).items():
        timeout = specs.get(queue.get("target"), {}).get("timeout_seconds")
        if isinstance(timeout, int | float) and timeout > default:
            problems.append(f"queue {name!r}: {queue['target']} may run {timeout} s, beyond the tasks' dispatch "
                            f"deadline ({default} s): Cloud Tasks would retry attempts that are still running")
    return problems


def _topics_told(tf: Terraform, code: Code, fn: str) -> dict[str, str]:
    """{topic key: setting env name} of the topics a function's code publishes to: each *_topic setting it
    reads, as Terraform sets it (the topic resource it references) or else the code's default."""
    told = {}
    for name in sorted(code.reads.get(fn, set())):
        if not name.endswith("_topic") or name not in code.settings:
            continue
        value = function_env(tf, fn).get(name.upper())
        keys = _keys_referenced(value, "google_pubsub_topic.topic") if value is not None else set()
        if value is None and isinstance(code.settings[name].default, str):
            keys = {code.settings[name].default}
        told.update({key: name.upper() for key in keys})
    return told


def check_publishers_hold_their_topics(tf: Terraform, code: Code) -> list[str]:
    """A function holds roles/pubsub.publisher (function_specs.publishes) on exactly the topics its code
    publishes to: without it every publish fails; beyond it a function that never publishes could."""
    problems = []
    for fn, spec in tf.locals.get("function_specs", {}).items():
        told = _topics_told(tf, code, fn)
        granted = set(spec.get("publishes") or [])
        problems += [f"{fn} publishes to {t!r} ({told[t]}) without publisher on it: add it to "
                     "function_specs.publishes" for t in sorted(set(told) - granted)]
        problems += [f"{fn} may publish to {t!r} (function_specs.publishes) but its code reads no topic setting "
                     "naming it: remove the grant" for t in sorted(granted - set(told))]
    publisher = tf.resource("google_pubsub_topic_iam_member", "publisher")
    if any(spec.get("publishes") for spec in tf.locals.get("function_specs", {}).values()) and (
            _expr(publisher.get("for_each")) != "local.function_publishes" or publisher.get("role") != "roles/pubsub.publisher"):
        problems.append("function_specs.publishes needs google_pubsub_topic_iam_member.publisher "
                        "(for_each = local.function_publishes, role roles/pubsub.publisher)")
    return problems


_PUBSUB_ACCOUNT = 'google_service_account.invoker["pubsub"].email'


def check_push_subscriptions_deliver_to_their_functions(tf: Terraform, code: Code) -> list[str]:
    """Terraform-owned push subscriptions: to a CloudEvent function, with the topic in the endpoint's path
    (Functions Framework reads it there), as the pubsub invoker (granted run.invoker), ordered when the code
    publishes with ordering keys, dead-lettered where their topic says, answered within the ack deadline,
    and never expiring."""
    subs = tf.locals.get("push_subscriptions", {})
    if not subs:
        return []
    problems = []
    specs, topics = tf.locals.get("function_specs", {}), tf.locals.get("topics", {})
    for name, sub in subs.items():
        fn, topic = sub.get("target"), sub.get("topic")
        if fn not in specs:
            problems.append(f"push subscription {name!r} targets {fn!r}, which is no function")
            continue
        if topic not in topics:
            problems.append(f"push subscription {name!r} reads unknown topic {topic!r}")
        if any(t.get("pubsub_topic") == topic for t in _triggers(specs[fn])):
            problems.append(f"{fn} gets topic {topic!r} from both push subscription {name!r} and an Eventarc trigger: "
                            "every event would arrive twice")
        if code.ordered_publishing and sub.get("message_ordering") is not True:
            problems.append(f"push subscription {name!r}: the code publishes with ordering keys (a contact's events "
                            "in order) but message_ordering is not true, so they may arrive in any order")
        deadline = number_of(tf, sub.get("ack_deadline_seconds"))
        timeout = specs[fn].get("timeout_seconds")
        if deadline is None or not isinstance(timeout, int | float) or deadline < timeout:
            problems.append(f"push subscription {name!r}: ack deadline ({deadline} s) below {fn}'s timeout "
                            f"({timeout} s): Pub/Sub pushes again events still being handled")
    resource = tf.resource("google_pubsub_subscription", "push")
    push = _block(resource, "push_config")
    oidc = _block(push, "oidc_token")
    if _expr(resource.get("for_each")) != "local.push_subscriptions":
        problems.append("push subscriptions need google_pubsub_subscription.push with for_each = local.push_subscriptions")
    if "/projects/${var.project_id}/topics/" not in str(push.get("push_endpoint")):
        problems.append("the push endpoint must be <function URL>/projects/<project>/topics/<topic>: Functions "
                        "Framework builds the CloudEvent's source from that path")
    if _expr(oidc.get("service_account_email")) != _PUBSUB_ACCOUNT:
        problems.append(f"push subscriptions must push with an OIDC token of {_PUBSUB_ACCOUNT}")
    if str(_block(resource, "expiration_policy").get("ttl", "missing")) != "":
        problems.append("push subscriptions need expiration_policy { ttl = \"\" }: an idle one is deleted after 31 "
                        "days, and later events with it")
    if "push_subscriptions" not in str(tf.locals.get("private_invocations")) or \
            "pubsub" not in str(tf.locals.get("private_invocations")):
        problems.append("local.private_invocations must grant the pubsub invoker run.invoker on push subscriptions' "
                        "targets, or every push is refused")
    if any(topics.get(sub.get("topic"), {}).get("dead_letter") for sub in subs.values()):
        if _dynamic(resource, "dead_letter_policy") is None:
            problems.append("a push subscription whose topic has a dead_letter topic needs a dead_letter_policy")
        grants = [body for body in tf.resources.get("google_pubsub_subscription_iam_member", {}).values()
                  if body.get("role") == "roles/pubsub.subscriber" and "pubsub_service_agent" in str(body.get("member"))]
        if not grants:
            problems.append("Pub/Sub's service agent must be roles/pubsub.subscriber on dead-lettered subscriptions "
                            "(google_pubsub_subscription_iam_member), or it cannot forward dead letters")
    return problems


def check_callers_match_function_signatures(tf: Terraform, code: Code) -> list[str]:
    """Queues, scheduler jobs and providers call HTTP functions; triggers and push subscriptions deliver
    CloudEvents. A mismatch fails every call at run time."""
    specs = tf.locals.get("function_specs", {})
    callers: list[tuple[str, str, str]] = []  # (function, caller, signature it needs)
    callers += [(q.get("target"), f"queue {n!r}", "http") for n, q in tf.locals.get("queues", {}).items()]
    callers += [(j.get("target"), f"scheduler job {n!r}", "http") for n, j in tf.locals.get("scheduler_jobs", {}).items()]
    callers += [(fn, "public invoker (providers)", "http") for fn, spec in specs.items() if spec.get("public")]
    callers += [(fn, "its event trigger", "cloud_event") for fn, spec in specs.items() if _triggers(spec)]
    callers += [(s.get("target"), f"push subscription {n!r}", "cloud_event")
                for n, s in tf.locals.get("push_subscriptions", {}).items()]
    problems = []
    for fn, caller, wanted in callers:
        if fn not in code.signatures:
            continue  # reported by the checks on names
        actual = code.signatures[fn]
        if actual is None:
            problems.append(f"{fn}: its entry point has neither @functions_framework.http nor .cloud_event")
        elif actual != wanted:
            problems.append(f"{fn} is called by {caller}, which needs a {wanted} function, but its entry point is "
                            f"{actual}")
    return problems


def _mime_types(text: str) -> set[str]:
    return {t.strip().lower() for t in text.split(",") if t.strip()}


def check_readable_media_types_match_the_code(tf: Terraform, code: Code) -> list[str]:
    """Terraform's default MEDIA_READABLE_MIME_TYPES is the code's: the types it has a reader for."""
    setting = code.settings.get("media_readable_mime_types")
    if setting is None or not isinstance(setting.default, str):
        return []
    readable = _mime_types(setting.default)
    problems = []
    for fn in tf.locals.get("function_specs", {}):
        value = function_env(tf, fn).get("MEDIA_READABLE_MIME_TYPES")
        if value is None:
            continue
        text = _expr(value)
        joined = re.fullmatch(r'join\(\s*",\s*"\s*,\s*var\.(\w+)\.(\w+)\s*\)', text)
        if joined:
            listed = variable_list_default(tf, *joined.groups())
            types = None if listed is None else {t.strip().lower() for t in listed}
        else:
            types = None if "${" in str(value) else _mime_types(str(value))
        if types is None:
            problems.append(f"{fn}: MEDIA_READABLE_MIME_TYPES = {text} cannot be read statically; use "
                            'join(",", var.<variable>.<list attribute>) or a literal')
            continue
        problems += [f"{fn}: Terraform's MEDIA_READABLE_MIME_TYPES leaves out {t}, which the code reads "
                     "(shared/config.py): such files would be stored but never read in production"
                     for t in sorted(readable - types)]
        problems += [f"{fn}: Terraform's MEDIA_READABLE_MIME_TYPES names {t}, which the code's default does not "
                     "list: it may have no reader for it" for t in sorted(types - readable)]
    return problems


def check_archive_ships_what_functions_load(tf: Terraform, code: Code) -> list[str]:
    problems = []
    for required in ("main.py", "requirements.txt"):
        if not archive_matches(tf, required):
            problems.append(f"the source archive must hold {required} at its root (local.source_patterns)")
    for fn, files in sorted(code.files.items()):
        problems += [f"{fn} loads {path}, which local.source_patterns leaves out of the archive"
                     for path in sorted(files) if not archive_matches(tf, path)]
    return problems


CHECKS: list[Check] = [
    check_functions_match_entry_points,
    check_function_resource_is_wired_per_entry_point,
    check_own_service_account_per_function,
    check_required_settings_are_provided,
    check_env_names_are_settings,
    check_env_is_read_by_its_function,
    check_infrastructure_names_exist,
    check_private_functions_are_private,
    check_no_secret_values_in_terraform,
    check_log_metrics_match_log_lines,
    check_dashboard_uses_defined_metrics,
    check_firestore_matches_queries,
    check_expiring_documents_have_ttl_policies,
    check_vector_indexes_serve_vector_queries,
    check_event_triggers_deliver_what_the_code_handles,
    check_webhook_urls_cover_providers,
    check_leases_outlast_their_functions,
    check_time_budgets_end_before_the_timeout,
    check_scheduler_jobs_wait_for_their_targets,
    check_publishers_hold_their_topics,
    check_push_subscriptions_deliver_to_their_functions,
    check_callers_match_function_signatures,
    check_queue_settings_mirror_their_queues,
    check_turns_outlast_the_media_wait,
    check_queue_targets_finish_within_the_dispatch_deadline,
    check_readable_media_types_match_the_code,
    check_archive_ships_what_functions_load,
]


@dataclass
class Report:
    problems: dict[str, list[str]] = field(default_factory=dict)

    def all(self) -> list[str]:
        return [p for ps in self.problems.values() for p in ps]


def run_all(tf: Terraform, code: Code) -> Report:
    return Report({check.__name__: check(tf, code) for check in CHECKS})

"""A real `terraform plan` of terraform/'s variables, locals, preconditions and outputs, with no provider.

The machine (and CI) can run the terraform binary but cannot download the Google provider, so a plan of
the root module itself cannot even `init`. This builds a stand-in module Terraform can plan offline:

- every `variable`, `locals` and `output` block is copied unchanged, so each `validation`, each local and
  each output expression is evaluated by Terraform itself (the coalesce() that stopped every plan on a
  null default fails here exactly as it does in a real plan);
- every `resource` and `data` block becomes a `terraform_data` resource (built into Terraform, no
  download) named `<type>__<name>`, with the same `for_each`/`count` and the same `lifecycle`
  `precondition`s, so each precondition is evaluated for each instance;
- references to a declared resource or data source (`google_x.y[k].attr`, `data.google_p.this.number`)
  become `local.standin_unknown` (jsondecode(timestamp())), a value that is unknown during the plan, as a not-yet-created
  resource's attributes are in a real first plan; a reference in a `for_each` or `count` becomes the
  stand-in's own instance map, whose keys are known, as they are in a real plan. A reference to a
  resource that is *not* declared is left alone, so Terraform reports it;
- `terraform {}` (backend, required providers), `provider`, `check`, `moved`, `removed` and `import`
  blocks are dropped: they need the provider or the state, and tfschema.py checks resource bodies.

What this does not see: provider-side validation (argument names and required arguments are tfschema.py's
job) and anything computed from an attribute the provider returns.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TF_DIR = REPO / "terraform"

_DROPPED = {"terraform", "provider", "check", "moved", "removed", "import"}
_KEPT = {"variable", "locals", "output"}
_REFERENCE = re.compile(r"(?<![\w.])(data\.)?([a-z][a-z0-9]*_[a-z0-9_]+)\.([a-zA-Z_][\w-]*)")


@dataclass
class Block:
    kind: str
    labels: list[str]
    text: str  # the whole block, header to closing brace
    body: str  # between the braces


def _skip_string(text: str, i: int) -> int:
    """Index after the string literal opening at text[i] (a double quote), templates included."""
    i += 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        if text.startswith(("${", "%{"), i):
            i = _skip_braces(text, i + 1)
            continue
        i += 1
    raise ValueError("unterminated string")


def _skip_heredoc(text: str, i: int) -> int | None:
    match = re.compile(r"<<-?([A-Za-z_]+)[ \t]*\n").match(text, i)
    if match is None:
        return None
    end = re.compile(rf"^[ \t]*{match.group(1)}[ \t]*$", re.M).search(text, match.end())
    if end is None:
        raise ValueError(f"unterminated heredoc {match.group(1)}")
    return end.end()


def _skip_comment(text: str, i: int) -> int | None:
    if text.startswith(("#", "//"), i):
        end = text.find("\n", i)
        return len(text) if end < 0 else end
    if text.startswith("/*", i):
        return text.index("*/", i) + 2
    return None


def _next_token(text: str, i: int) -> int:
    """Index of the next character from i that is neither whitespace nor part of a comment."""
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        skipped = _skip_comment(text, i)
        if skipped is None:
            return i
        i = skipped
    return i


def _skip_braces(text: str, i: int) -> int:
    """Index after the bracket (any of {[( ) opening at text[i], skipping strings, heredocs, comments."""
    closing = {"{": "}", "[": "]", "(": ")"}
    stack = [closing[text[i]]]
    i += 1
    while i < len(text):
        c = text[i]
        skipped = _skip_comment(text, i)
        if skipped is not None:
            i = skipped
            continue
        if c == '"':
            i = _skip_string(text, i)
            continue
        if c == "<":
            heredoc = _skip_heredoc(text, i)
            if heredoc is not None:
                i = heredoc
                continue
        if c in closing:
            stack.append(closing[c])
        elif c in ")]}":
            if c != stack.pop():
                raise ValueError(f"unbalanced {c!r} at offset {i}")
            if not stack:
                return i + 1
        i += 1
    raise ValueError("unbalanced brackets")


def blocks(text: str) -> list[Block]:
    """The top-level blocks of an HCL file (`kind "label" ... { ... }`); attributes are refused."""
    found = []
    for kind, item_kind, item in _body_items(text):
        if item_kind != "block":
            raise ValueError(f"unexpected top-level attribute {kind!r}")
        header, _, rest = item.partition("{")
        found.append(Block(kind, re.findall(r'"([^"]*)"', header), item, rest[:-1]))
    return found


def _body_items(body: str) -> list[tuple[str, str, str]]:
    """(name, kind, text) of each top-level item of a block body: kind is 'attribute' or 'block'."""
    items = []
    item = re.compile(r'([A-Za-z_][\w-]*)\s*(=(?!=)|(?:"[^"]*"\s*)*\{)')
    i = _next_token(body, 0)
    while i < len(body):
        match = item.match(body, i)
        if match is None:
            raise ValueError(f"unexpected text in block body: {body[i:i + 40]!r}")
        if match.group(2).startswith("="):
            j = match.end()
            while True:  # an attribute's value ends at the first newline outside brackets
                while j < len(body) and body[j] in " \t":
                    j += 1
                if j >= len(body) or body[j] == "\n":
                    break
                if body[j] in "{[(":
                    j = _skip_braces(body, j)
                elif body[j] == '"':
                    j = _skip_string(body, j)
                elif body[j] == "<" and _skip_heredoc(body, j) is not None:
                    j = _skip_heredoc(body, j)
                elif _skip_comment(body, j) is not None:
                    j = _skip_comment(body, j)
                else:
                    j += 1
            items.append((match.group(1), "attribute", body[i:j]))
            i = _next_token(body, j)
        else:
            end = _skip_braces(body, match.end() - 1)
            items.append((match.group(1), "block", body[i:end]))
            i = _next_token(body, end)
    return items


def standin_module(tf_dir: Path = TF_DIR) -> str:
    """The stand-in module's text for the .tf files of tf_dir (see the module docstring)."""
    parsed = {path.name: blocks(path.read_text()) for path in sorted(tf_dir.glob("*.tf"))}
    declared: set[tuple[bool, str, str]] = set()
    for file_blocks in parsed.values():
        for b in file_blocks:
            if b.kind in ("resource", "data"):
                declared.add((b.kind == "data", b.labels[0], b.labels[1]))

    def standin_name(is_data: bool, rtype: str, name: str) -> str:
        return f"{'data__' if is_data else ''}{rtype}__{name}"

    def rewrite(expr: str, as_collection: bool = False) -> str:
        def replace(match: re.Match[str]) -> str:
            is_data, rtype, name = bool(match.group(1)), match.group(2), match.group(3)
            if (is_data, rtype, name) not in declared:
                return match.group(0)
            if as_collection:
                return f"terraform_data.{standin_name(is_data, rtype, name)}"
            return "local.standin_unknown"

        expr = expr.replace("path.module", f'"{tf_dir.resolve().as_posix()}"')
        return _REFERENCE.sub(replace, expr)

    out = [
        "# Generated by tests/infra/tfplan.py from terraform/*.tf: not for editing.",
        "# A value unknown during the plan, of no fixed type: what a resource not created yet returns.",
        "locals {",
        "  standin_unknown = jsondecode(timestamp())",
        "}",
    ]
    for filename, file_blocks in parsed.items():
        for b in file_blocks:
            if b.kind in _DROPPED:
                continue
            if b.kind in _KEPT:
                out.append(f"# {filename}\n{rewrite(b.text)}")
                continue
            if b.kind not in ("resource", "data"):
                raise ValueError(f"{filename}: unknown top-level block {b.kind!r}")
            lines = [f'resource "terraform_data" "{standin_name(b.kind == "data", *b.labels)}" {{']
            preconditions = []
            for name, kind, text in _body_items(b.body):
                if kind == "attribute" and name in ("for_each", "count"):
                    lines.append("  " + rewrite(text, as_collection=True))
                elif kind == "block" and name == "lifecycle":
                    preconditions += [t for n, k, t in _body_items(text[text.index("{") + 1:-1])
                                      if k == "block" and n == "precondition"]
            if preconditions:
                lines.append("  lifecycle {")
                lines += ["    " + rewrite(p) for p in preconditions]
                lines.append("  }")
            lines.append("}")
            out.append(f"# {filename}: {b.kind} {' '.join(b.labels)}\n" + "\n".join(lines))
    return "\n\n".join(out) + "\n"


def terraform_binary() -> str | None:
    return shutil.which("terraform")


@dataclass
class PlanResult:
    ok: bool
    output: str
    values: dict[str, Any] = field(default_factory=dict)  # the `probes` expressions' planned values


def plan_standin(tf_dir: Path, work_dir: Path, var_files: list[Path] | None = None,
                 variables: dict[str, str] | None = None, probes: dict[str, str] | None = None) -> PlanResult:
    """`terraform init` + `terraform plan` of the stand-in module of tf_dir, in work_dir.

    probes: {name: HCL expression} evaluated by the plan (as outputs), e.g. what one function's
    environment variable will be; a value still unknown at plan time is absent from `values`.
    """
    binary = terraform_binary()
    assert binary, "no terraform binary"
    work_dir.mkdir(parents=True, exist_ok=True)
    probe_blocks = "".join(f'\noutput "probe_{name}" {{\n  value = {expr}\n}}\n' for name, expr in (probes or {}).items())
    (work_dir / "main.tf").write_text(standin_module(tf_dir) + probe_blocks)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TF_")},
           "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "TF_DATA_DIR": str(work_dir / ".terraform")}
    init = subprocess.run([binary, "init", "-input=false", "-backend=false", "-no-color"], cwd=work_dir,
                          env=env, capture_output=True, text=True, timeout=300)
    if init.returncode != 0:
        return PlanResult(False, init.stdout + init.stderr)
    args = [binary, "plan", "-input=false", "-lock=false", "-refresh=false", "-no-color", "-out=standin.tfplan"]
    args += [f"-var-file={path.resolve()}" for path in var_files or []]
    args += [f"-var={name}={value}" for name, value in (variables or {}).items()]
    plan = subprocess.run(args, cwd=work_dir, env=env, capture_output=True, text=True, timeout=300)
    result = PlanResult(plan.returncode == 0, plan.stdout + plan.stderr)
    if result.ok and probes:
        show = subprocess.run([binary, "show", "-json", "standin.tfplan"], cwd=work_dir, env=env,
                              capture_output=True, text=True, timeout=120)
        outputs = json.loads(show.stdout).get("planned_values", {}).get("outputs", {})
        result.values = {name: outputs[f"probe_{name}"]["value"] for name in probes
                         if "value" in outputs.get(f"probe_{name}", {})}
    return result

"""The alignment part of `terraform fmt`, for a workplace without the terraform binary.

cloudbuild.yaml runs `terraform fmt -check`; this reproduces its most common complaint offline.
Like hclwrite, it aligns the `=` of consecutive single-line attributes one column after the longest
name (a line whose value opens a multi-line bracket or heredoc, a blank line, a comment-only line or
a brace ends the run), and the trailing comments of consecutive lines one column after the longest
code. Token spacing inside expressions is not checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEREDOC = re.compile(r"<<-?([A-Z]+)\s*$")


def mask_strings(line: str) -> str:
    """The line with the inside of every string literal (interpolations included) replaced by 'x'.

    Positions are kept, so columns found in the masked line are columns of the real one.
    """
    out = list(line)
    n = len(line)

    def string(j: int) -> int:  # j at an opening quote; returns the index after its closing quote
        j += 1
        while j < n:
            if line[j] == "\\":
                out[j:j + 2] = "xx"[: min(2, n - j)]
                j += 2
                continue
            if line[j] == '"':
                return j + 1
            if line.startswith(("${", "%{"), j):
                end = template(j + 2)
                out[j:end] = "x" * (end - j)
                j = end
                continue
            out[j] = "x"
            j += 1
        return n

    def template(j: int) -> int:  # inside ${ ... }; returns the index after the closing brace
        depth = 1
        while j < n and depth:
            if line[j] == '"':
                j = string(j)
                continue
            depth += line[j] == "{"
            depth -= line[j] == "}"
            j += 1
        return j

    i = 0
    while i < n:
        if line[i] == '"':
            i = string(i)
        elif line[i] == "#" or line.startswith("//", i):
            break
        else:
            i += 1
    return "".join(out)


@dataclass
class _Line:
    number: int
    code: str  # the line without its trailing comment, right-stripped
    comment_at: int | None  # column of a trailing comment
    assign_at: int | None  # column of the `=` of a single-line attribute
    lead: str  # the text before that `=`, right-stripped


def _net_brackets(code: str) -> int:
    opened = sum(code.count(c) for c in "{[(") + bool(_HEREDOC.search(code.rstrip()))
    return opened - sum(code.count(c) for c in "}])")


def _parse(text: str) -> list[_Line | None]:
    lines: list[_Line | None] = []
    heredoc_end: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        if heredoc_end is not None:
            lines.append(None)
            if raw.strip() == heredoc_end:
                heredoc_end = None
            continue
        masked = mask_strings(raw)
        comment = re.search(r"#|//", masked)
        code = masked[: comment.start()] if comment else masked
        heredoc = _HEREDOC.search(code.rstrip())
        if heredoc:
            heredoc_end = heredoc.group(1)
        if not code.strip():
            lines.append(None)  # blank or comment-only: ends every run
            continue
        assign = re.search(r"(?<![=!<>])=(?![=>])", code)
        assign_at, lead = None, ""
        if assign and code[: assign.start()].strip() and _net_brackets(code[assign.start():]) == 0:
            assign_at, lead = assign.start(), raw[: assign.start()].rstrip()
        lines.append(_Line(number, raw[: len(code.rstrip())], comment.start() if comment else None, assign_at, lead))
    return lines


def misalignments(text: str) -> list[str]:
    """Lines `terraform fmt` would re-align, as 'line N: ...' messages."""
    lines = _parse(text)

    def runs(attribute: str) -> list[list[_Line]]:
        groups: list[list[_Line]] = [[]]
        for line in lines:
            if line is not None and getattr(line, attribute) is not None:
                groups[-1].append(line)
            elif groups[-1]:
                groups.append([])
        return [g for g in groups if g]

    problems: list[str] = []
    for run in runs("assign_at"):
        want = max(len(line.lead) for line in run) + 1
        problems += [f"line {line.number}: '=' at column {line.assign_at + 1}, terraform fmt puts it at {want + 1}"
                     for line in run if line.assign_at != want]
    for run in runs("comment_at"):
        want = max(len(line.code) for line in run) + 1
        problems += [f"line {line.number}: comment at column {line.comment_at + 1}, terraform fmt puts it at {want + 1}"
                     for line in run if line.comment_at != want]
    return problems

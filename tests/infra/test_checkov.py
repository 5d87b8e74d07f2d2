"""checkov over terraform/: no finding unless the resource skips it in the code, with its reason.

checkov runs from its own virtualenv (.venv-checkov, made by scripts/setup.sh from
requirements-checkov.txt), offline (--skip-download: no Prisma Cloud calls). A skip is a
`#checkov:skip=<id>:<one-line reason>` comment inside the resource it concerns.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

import tfschema

REPO = tfschema.REPO
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"

pytestmark = pytest.mark.skipif(not CHECKOV.exists(),
                                reason=f"{CHECKOV.relative_to(REPO)} is missing: run `bash scripts/setup.sh`")


def checkov(directory: Path) -> tuple[list[str], int]:
    """The failed checks as 'CHECK_ID resource (file)' lines, and how many checks were skipped."""
    result = subprocess.run([str(CHECKOV), "--directory", str(directory), "--framework", "terraform",
                             "--skip-download", "--compact", "--quiet", "--output", "json"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode in (0, 1), result.stderr[-2000:]
    reports = json.loads(result.stdout or "[]")
    reports = reports if isinstance(reports, list) else [reports]
    failed: list[str] = []
    skipped = 0
    for report in reports:
        if not isinstance(report, dict):
            continue
        skipped += int(report.get("summary", {}).get("skipped", 0))
        # --quiet lists the failed checks only; the summary counts the rest.
        failed += [f"{c['check_id']} {c['resource']} ({c['file_path'].lstrip('/')})"
                   for c in report.get("results", {}).get("failed_checks", [])]
    return failed, skipped


def test_checkov_finds_nothing_that_is_not_skipped_with_a_reason():
    failed, skipped = checkov(tfschema.TF_DIR)
    assert failed == []
    assert skipped > 0, "no skip seen: is checkov reading terraform/ at all?"
    for path in tfschema.TF_DIR.glob("*.tf"):
        for skip in re.findall(r"#\s*checkov:skip=([^\n]*)", path.read_text()):
            check_id, _, reason = skip.partition(":")
            assert len(reason.strip()) > 20, f"{path.name}: skip of {check_id} without a reason"


def test_checkov_reports_a_finding_once_its_skip_is_removed(tmp_path):
    storage = (tfschema.TF_DIR / "storage.tf").read_text()
    assert "#checkov:skip=CKV_GCP_62:" in storage, "update this test: storage.tf no longer skips CKV_GCP_62"
    (tmp_path / "storage.tf").write_text(re.sub(r"\s*#checkov:skip=CKV_GCP_62:[^\n]*", "", storage))
    failed, _ = checkov(tmp_path)
    assert any(line.startswith("CKV_GCP_62 google_storage_bucket.bucket") for line in failed), failed

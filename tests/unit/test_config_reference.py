"""DEPLOY.md's configuration tables are the models' own: generated from them, and checked here."""

from dev.config_tables import DEPLOY, block_in, render, table
from shared.domain.tenancy import AgentConfig


def test_deploy_md_tables_match_the_models():
    assert block_in(DEPLOY.read_text()) == render(), "run: .venv/bin/python -m dev.config_tables --write"


def test_the_tables_carry_each_fields_rule_so_docs_cannot_promise_what_the_code_refuses():
    rows = {line.split("|")[1].strip(): line for line in table(AgentConfig).splitlines()[2:]}
    assert "≥ 4" in rows["`history_limit`"] and "≤ 100" in rows["`history_limit`"]
    assert "`pilot` \\| `copilot`" in rows["`mode`"]

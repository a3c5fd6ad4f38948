"""The example CI workflows are valid YAML and call only real reconciler commands."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from project_runner import REPO
from reconciler.cli import main

WORKFLOWS = sorted((REPO / "docs" / "ci" / "github").glob("*.yml"))


def reconciler_commands(workflow: Path) -> list[list[str]]:
    document = yaml.safe_load(workflow.read_text())
    commands = []
    for job in document["jobs"].values():
        for step in job["steps"]:
            for line in step.get("run", "").splitlines():
                line = re.sub(r"\$\{\{[^}]*\}\}", "X", line).split(">")[0].strip()
                if line.startswith("reconciler "):
                    commands.append(shlex.split(line)[1:])
    return commands


def test_there_are_plan_apply_and_drift_workflows():
    assert [w.name for w in WORKFLOWS] == ["reconciler-apply.yml", "reconciler-drift.yml", "reconciler-plan.yml"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_commands_exist(workflow):
    document = yaml.safe_load(workflow.read_text())
    assert document["jobs"] and "on" in document or True in document  # PyYAML reads `on:` as True
    commands = reconciler_commands(workflow)
    assert commands
    for args in commands:
        # --help after the real arguments: click still rejects unknown commands and options.
        result = CliRunner().invoke(main, [*args, "--help"])
        assert result.exit_code == 0, f"{' '.join(args)}: {result.output}"


def test_apply_workflow_never_overlaps_and_applies_the_reviewed_plan():
    document = yaml.safe_load((REPO / "docs/ci/github/reconciler-apply.yml").read_text())
    assert document["concurrency"] == {"group": "reconciler-apply", "cancel-in-progress": False}
    assert ["apply", "plan.json"] in reconciler_commands(REPO / "docs/ci/github/reconciler-apply.yml")


def test_plan_workflow_updates_its_own_comment():
    text = (REPO / "docs/ci/github/reconciler-plan.yml").read_text()
    assert "<!-- reconciler-plan -->" in text and "updateComment" in text
    assert ["plan", "--out", "plan.json", "--format", "markdown", "--detailed-exitcode"] in \
        reconciler_commands(REPO / "docs/ci/github/reconciler-plan.yml")


def test_pre_commit_hooks_call_real_commands():
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"] for h in hooks} == {"reconciler-validate", "reconciler-fmt"}
    for hook in hooks:
        args = shlex.split(hook["entry"])[1:]
        assert CliRunner().invoke(main, [*args, "--help"]).exit_code == 0

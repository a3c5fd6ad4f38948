"""What the example CI workflows' helper scripts (docs/ci/github/reconciler/) do, run here
as the workflows run them: the real reconciler on a real project and state, and for
GitHub's side a stand-in `gh` on PATH (fake_gh) that answers as GitHub's API does and
records what it was asked."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

import fake_gh
from project_runner import ProjectRunner, copy_example, REPO
from reconciler.state import open_state

SCRIPTS = REPO / "docs" / "ci" / "github" / "reconciler"
sys.path.insert(0, str(SCRIPTS))
import comment  # noqa: E402  (the module the workflows run as a script)

MARKER = "<!-- reconciler-plan -->"
MENU = "menus:\n  m:\n    currency: SGD\n    products:\n{}\n"
SEVEN = "\n".join(f"      i{n}: {{name: item {n}, price: 2}}" for n in range(7))
REPO_NAME = "acme/catalog"


@pytest.fixture(autouse=True)
def _no_stray_state(monkeypatch):
    """Only what a test gives: a RECONCILER_STATE of the caller's shell would be planned against."""
    monkeypatch.delenv("RECONCILER_STATE", raising=False)


def git(project: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=project, check=True, capture_output=True, text=True).stdout.strip()


def cafe(tmp_path: Path) -> ProjectRunner:
    """A one-store catalog in a git repository, its state in tmp_path/state.db."""
    project = ProjectRunner(tmp_path / "cafe")
    project.write("reconciler.yaml", 'backends:\n  demo: {provider: dstore, url: "emulator://", pos_account_id: bk, owned: true}\n')
    project.write("menu.yaml", MENU.format(SEVEN))
    project.write("stores.yaml", "stores:\n  cafe: {name: Cafe, menu: m, backends: {demo: {store_id: c1}}}\n")
    project.write(".gitignore", ".reconciler/\nreconciler-ci/\nplan.json\n")
    git(project.root, "init", "-q", "-b", "main")
    git(project.root, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    git(project.root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "base")
    return project


def commit(project: ProjectRunner) -> None:
    git(project.root, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    git(project.root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "change")


def state_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


def env_for(tmp_path: Path, **values: str) -> dict[str, str]:
    """The environment a workflow step has: the venv's python3 and reconciler first, then
    the stand-ins in tmp_path/bin, no GitHub or reconciler variable but the ones given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RECONCILER_", "GH_"))}
    env["PATH"] = os.pathsep.join([str(tmp_path / "bin"), str(Path(sys.executable).parent), env["PATH"]])
    env["GITHUB_OUTPUT"] = str(tmp_path / "github_output")
    env.update(values)
    return env


def outputs(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "github_output"
    return dict(line.split("=", 1) for line in path.read_text().splitlines()) if path.exists() else {}


def pr_plan(project: ProjectRunner, tmp_path: Path, **values: str) -> tuple[str, subprocess.CompletedProcess]:
    values.setdefault("RECONCILER_STATE", state_url(tmp_path))
    result = subprocess.run(["bash", str(SCRIPTS / "pr_plan.sh")], cwd=project.root, capture_output=True,
                            text=True, env=env_for(tmp_path, **values))
    body = (project.root / "reconciler-ci" / "comment.md").read_text(encoding="utf-8")
    return body, result


# -- the pull-request plan: pr_plan.sh and comment.py -------------------------------------------

def test_a_plan_becomes_the_comment_and_the_artifact(tmp_path):
    project = cafe(tmp_path)
    project.write("menu.yaml", MENU.format(SEVEN.replace("i6: {name: item 6, price: 2}", "i6: {name: item 6, price: 3}")))
    commit(project)
    body, result = pr_plan(project, tmp_path, BASE_REV="HEAD^1")
    assert result.returncode == 0, result.stderr
    assert outputs(tmp_path)["exitcode"] == "0"  # exit 2 (changes) is a successful plan
    assert body.splitlines()[0] == MARKER and body.count(MARKER) == 1
    assert "### Reconciler plan `" in body and "| demo | cafe |" in body
    assert "changes where the reconciler sends data" not in body  # reconciler.yaml is unchanged
    assert "--no-refresh" in body
    plan = json.loads((project.root / "plan.json").read_text())
    assert plan["stores"] and plan["options"]["refresh"] is False


def test_an_invalid_catalog_is_the_comment_with_every_problem(tmp_path):
    project = cafe(tmp_path)
    project.write("stores.yaml", "stores:\n  cafe: {name: Cafe, menu: nosuchmenu, backends: {demo: {store_id: c1}}}\n")
    body, result = pr_plan(project, tmp_path)
    assert result.returncode == 0
    assert outputs(tmp_path)["exitcode"] == "1"
    assert body.splitlines()[0] == MARKER
    assert "the project is not valid" in body and "stores.yaml:2" in body and "nosuchmenu" in body
    assert not (project.root / "plan.json").exists()


def test_a_plan_error_is_the_comment_with_its_text_and_no_password(tmp_path):
    project = cafe(tmp_path)
    body, _ = pr_plan(project, tmp_path, RECONCILER_STATE="postgresql://reader:s3cret-pw@127.0.0.1:9/catalog")
    assert outputs(tmp_path)["exitcode"] == "1"
    assert body.splitlines()[0] == MARKER and "### Reconciler plan failed" in body
    assert "cannot connect to the PostgreSQL state at 127.0.0.1:9/catalog" in body
    assert "s3cret-pw" not in body


def test_a_safety_refusal_is_the_comment_with_the_plan_and_the_reason(tmp_path, monkeypatch):
    project = cafe(tmp_path)
    monkeypatch.setenv("RECONCILER_STATE", state_url(tmp_path))
    applied = project.run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    project.write("menu.yaml", MENU.format("      i0: {name: item 0, price: 2}"))
    body, _ = pr_plan(project, tmp_path)
    assert outputs(tmp_path)["exitcode"] == "3"
    assert body.splitlines()[0] == MARKER
    assert "Refused by the safety thresholds (exit 3)" in body
    assert "removes 6 of 7 products (86%), more than max_removed_share 30%" in body


def test_a_job_without_state_says_how_to_set_it_up(tmp_path):
    project = cafe(tmp_path)
    body, _ = pr_plan(project, tmp_path, RECONCILER_STATE="")
    assert outputs(tmp_path)["exitcode"] == "1"
    assert body.splitlines()[0] == MARKER and "not set up" in body and "RECONCILER_STATE_READ" in body


def test_a_checkout_without_the_base_commit_is_a_setup_error_not_a_silent_skip(tmp_path):
    project = cafe(tmp_path)  # one commit: HEAD^1 does not exist, as in a checkout of depth 1
    body, _ = pr_plan(project, tmp_path, BASE_REV="HEAD^1")
    assert outputs(tmp_path)["exitcode"] == "1"
    assert body.splitlines()[0] == MARKER and "not set up" in body and "fetch-depth: 2" in body


def test_changed_backend_urls_secret_references_and_ci_files_are_called_out(tmp_path):
    project = cafe(tmp_path)
    project.write("reconciler.yaml", "state: postgresql://writer:db-pw@db.example.com/catalog\nbackends:\n"
                  "  demo: {provider: dstore, url: 'http://127.0.0.1:9/?key=abc', pos_account_id: bk,\n"
                  "         client_id: C1, private_key: '${env:MY_OWN_VARIABLE}'}\n"
                  "  extra: {provider: virtpos, url: 'http://127.0.0.1:9', apikey: 'literal-key-value'}\n")
    project.write(".github/workflows/x.yml", "on: push\n")
    commit(project)
    body, _ = pr_plan(project, tmp_path, BASE_REV="HEAD^1")
    assert body.splitlines()[0] == MARKER
    assert "This pull request changes where the reconciler sends data or secrets" in body
    assert "backend `demo`: `url` `emulator://` -> `http://127.0.0.1:9/?***`" in body
    assert "backend `demo`: `private_key` secret reference (none) -> `${env:MY_OWN_VARIABLE}`" in body
    assert "backend `extra` is new (provider `virtpos`)" in body
    assert "backend `extra`: `apikey` is a literal value in the file (not shown here)" in body
    assert "`state` store (none) -> `postgresql://writer:***@db.example.com/catalog`" in body
    assert "CI file changed: `.github/workflows/x.yml`" in body
    for secret in ("literal-key-value", "db-pw", "key=abc"):
        assert secret not in body


def test_every_backend_plans_without_credentials_and_without_being_contacted(tmp_path, monkeypatch):
    """`plan --no-refresh`, as pr_plan.sh runs it: backend URLs at a closed loopback port and
    secret references to unset variables still plan, for all four providers; a refreshing
    plan of a backend that can be read (VirtPOS) would need its key."""
    references = {"dstore": {"client_id": "C", "private_key": "${env:DSTORE_PRIVATE_KEY}"},
                  "tipsi": {"username": "${env:TIPSI_USER}", "password": "${env:TIPSI_PASSWORD}"},
                  "mipos": {"client_id": "C", "client_secret": "${env:MIPOS_CLIENT_SECRET}",
                            "email": "ops@example.com", "password": "${env:MIPOS_PASSWORD}"},
                  "virtpos": {"apikey": "${env:VIRTPOS_APIKEY}"}}
    for variable in ("DSTORE_PRIVATE_KEY", "TIPSI_USER", "TIPSI_PASSWORD", "MIPOS_CLIENT_SECRET",
                     "MIPOS_PASSWORD", "VIRTPOS_APIKEY"):
        monkeypatch.delenv(variable, raising=False)
    providers = set()
    for example in ("tipsi-wine-shop", "mipos-inventory", "virtpos-pet-shop"):
        project = copy_example(example, tmp_path)
        config = yaml.safe_load((project.root / "reconciler.yaml").read_text())
        for backend in config["backends"].values():
            backend.pop("emulator_seed", None)
            backend.update(url="http://127.0.0.1:9", **references[backend["provider"]])
            providers.add(backend["provider"])
        (project.root / "reconciler.yaml").write_text(yaml.safe_dump(config))
        result = project.run("plan", "--no-refresh", "--detailed-exitcode")
        assert result.exit_code == 2, f"{example}: {result.output}"
        if example == "virtpos-pet-shop":
            refreshing = project.run("plan")
            assert refreshing.exit_code == 1 and "VIRTPOS_APIKEY is not set" in refreshing.output
    assert providers == set(references)


def test_a_comment_over_the_limit_leaves_out_whole_stores_details(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    details = "".join(f"<details><summary>demo / s{n}</summary>\n\n" + "- + create `x`\n" * 120 + "\n</details>\n\n"
                      for n in range(60))
    (out / "plan.out").write_text(f"{MARKER}\n### Reconciler plan `p1`\n\n**60** store(s) change\n\n{details}")
    for name, code in (("validate", 0), ("fmt", 1), ("plan", 2)):
        (out / f"{name}.code").write_text(f"{code}\n")
    (out / "fmt.out").write_text("menu.yaml is not canonical ``` with a fence inside\n")
    body = comment.plan_body(comment.Outputs(out), tmp_path, "reconciler-plan-7")
    assert len(body) <= comment.LIMIT < len(details)
    assert body.splitlines()[0] == MARKER and "### Reconciler plan `p1`" in body
    assert body.count("<details>") == body.count("</details>") > 0
    assert "more stores' details left out" in body and "`reconciler-plan-7`" in body
    assert "````text\nmenu.yaml is not canonical ``` with a fence inside\n````" in body  # the fence holds


# -- the sticky comment: sticky_comment.py ------------------------------------------------------

def sticky(tmp_path: Path, existing: list[dict], body: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    pages = [existing[:2], existing[2:]]  # --slurp: a list of pages
    fake_gh.install(tmp_path / "bin", [
        {"args": ["api", "--paginate", "--slurp", f"repos/{REPO_NAME}/issues/7/comments"], "stdout": pages},
        {"args": ["api", "-X", "POST"], "stdout": {"id": 900}},
        {"args": ["api", "-X", "PATCH"], "stdout": {}},
        {"args": ["api", "-X", "DELETE"], "stdout": ""},
    ])
    (tmp_path / "body.md").write_text(body)
    result = subprocess.run([sys.executable, str(SCRIPTS / "sticky_comment.py"), "7", str(tmp_path / "body.md")],
                            capture_output=True, text=True,
                            env=env_for(tmp_path, GITHUB_REPOSITORY=REPO_NAME, GH_TOKEN="t"))
    return result, [c for c in fake_gh.calls(tmp_path / "bin") if "--paginate" not in c["args"]]


def test_the_first_plan_comment_is_created(tmp_path):
    someone_elses = {"id": 5, "user": {"login": "mallory"}, "body": f"{MARKER}\nlooks like yours"}
    result, calls = sticky(tmp_path, [someone_elses], f"{MARKER}\nthe plan\n")
    assert result.returncode == 0, result.stderr
    assert [c["args"][:4] for c in calls] == [["api", "-X", "POST", f"repos/{REPO_NAME}/issues/7/comments"]]
    assert json.loads(calls[0]["stdin"]) == {"body": f"{MARKER}\nthe plan\n"}


def test_the_plan_comment_is_updated_and_duplicates_removed(tmp_path):
    bot = "github-actions[bot]"
    existing = [{"id": 11, "user": {"login": bot}, "body": "<!-- reconciler-apply -->\napplied"},
                {"id": 12, "user": {"login": bot}, "body": f"{MARKER}\nold plan"},
                {"id": 13, "user": {"login": "alice"}, "body": "LGTM"},
                {"id": 14, "user": {"login": bot}, "body": f"{MARKER}\nduplicate"}]
    result, calls = sticky(tmp_path, existing, f"{MARKER}\nnew plan\n")
    assert result.returncode == 0, result.stderr
    assert [c["args"][:4] for c in calls] == [["api", "-X", "PATCH", f"repos/{REPO_NAME}/issues/comments/12"],
                                              ["api", "-X", "DELETE", f"repos/{REPO_NAME}/issues/comments/14"]]
    assert json.loads(calls[0]["stdin"])["body"] == f"{MARKER}\nnew plan\n"


# -- the apply: fetch_plan.py ------------------------------------------------------------------

MERGE, HEAD, OTHER = "m" * 40, "h" * 40, "o" * 40
PLAN_JSON = '{"format_version": 1, "plan_id": "p-reviewed"}\n'


def pull(number: int = 7, merged: bool = True) -> dict:
    return {"number": number, "merged_at": "2026-01-01T00:00:00Z" if merged else None,
            "merge_commit_sha": MERGE, "head": {"sha": HEAD, "ref": "feature"}}


def run(run_id: int, sha: str, conclusion: str, created: str) -> dict:
    return {"databaseId": run_id, "headSha": sha, "status": "completed", "conclusion": conclusion,
            "createdAt": created, "url": f"https://github.test/runs/{run_id}"}


def fetch(tmp_path: Path, responses: list[dict], *args: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    fake_gh.install(tmp_path / "bin", responses)
    result = subprocess.run([sys.executable, str(SCRIPTS / "fetch_plan.py"), *args, "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, env=env_for(tmp_path, GITHUB_REPOSITORY=REPO_NAME))
    return result, fake_gh.calls(tmp_path / "bin")


def test_the_plan_of_the_merged_head_commit_is_fetched_not_the_branchs_latest(tmp_path):
    runs = [run(101, HEAD, "failure", "2026-01-01T10:00:00Z"),
            run(102, HEAD, "success", "2026-01-01T11:00:00Z"),
            run(103, OTHER, "success", "2026-01-01T12:00:00Z")]  # the branch pushed again after the merge
    result, calls = fetch(tmp_path, [
        {"args": ["api", f"repos/{REPO_NAME}/commits/{MERGE}/pulls"], "stdout": [pull(6, merged=False), pull()]},
        {"args": ["run", "list"], "stdout": runs},
        {"args": ["run", "download", "102"], "files": {"plan.json": PLAN_JSON}},
    ], "--merge-sha", MERGE)
    assert result.returncode == 0, result.stderr
    listing = next(c["args"] for c in calls if c["args"][:2] == ["run", "list"])
    assert listing[listing.index("--commit") + 1] == HEAD and "--branch" not in listing
    assert listing[listing.index("--workflow") + 1] == "reconciler-plan.yml"
    download = next(c["args"] for c in calls if c["args"][:2] == ["run", "download"])
    assert download[2] == "102" and download[download.index("--name") + 1] == "reconciler-plan-7"
    assert (tmp_path / "out" / "plan.json").read_text() == PLAN_JSON
    assert outputs(tmp_path) == {"pr": "7", "head_sha": HEAD, "run_id": "102"}


def test_a_pull_request_that_never_ran_the_plan_is_refused_clearly(tmp_path):
    result, calls = fetch(tmp_path, [
        {"args": ["api", f"repos/{REPO_NAME}/commits/{MERGE}/pulls"], "stdout": [pull()]},
        {"args": ["run", "list"], "stdout": []},
    ], "--merge-sha", MERGE)
    assert result.returncode == 1
    reason = (tmp_path / "out" / "fetch.err").read_text()
    assert f"pull request #7 has no run of reconciler-plan.yml for its head commit {HEAD}" in reason
    assert "plan_run_id" in reason  # what to do instead
    assert not (tmp_path / "out" / "plan.json").exists()
    assert not any(c["args"][:2] == ["run", "download"] for c in calls)
    assert outputs(tmp_path)["pr"] == "7"  # so the apply job can tell the pull request


def test_a_failed_plan_run_and_a_direct_push_are_refused(tmp_path):
    failed, _ = fetch(tmp_path / "a", [
        {"args": ["api", f"repos/{REPO_NAME}/commits/{MERGE}/pulls"], "stdout": [pull()]},
        {"args": ["run", "list"], "stdout": [run(101, HEAD, "failure", "2026-01-01T10:00:00Z")]},
    ], "--merge-sha", MERGE)
    assert failed.returncode == 1 and "ended failure" in failed.stderr
    direct, _ = fetch(tmp_path / "b", [
        {"args": ["api", f"repos/{REPO_NAME}/commits/{MERGE}/pulls"], "stdout": [pull(merged=False)]},
    ], "--merge-sha", MERGE)
    assert direct.returncode == 1 and "is not the merge of a pull request" in direct.stderr


def test_a_by_hand_plan_is_applied_only_on_the_commit_it_planned(tmp_path):
    view = {"databaseId": 300, "headSha": OTHER, "status": "completed", "conclusion": "success",
            "event": "workflow_dispatch", "workflowName": "reconciler apply", "url": "u"}
    moved, _ = fetch(tmp_path / "a", [{"args": ["run", "view", "300"], "stdout": view}],
                     "--run-id", "300", "--expect-sha", MERGE)
    assert moved.returncode == 1 and f"main is now at {MERGE}" in moved.stderr
    same, calls = fetch(tmp_path / "b", [
        {"args": ["run", "view", "300"], "stdout": {**view, "headSha": MERGE}},
        {"args": ["run", "download", "300", "--repo", REPO_NAME, "--name", "reconciler-plan-main"],
         "files": {"plan.json": PLAN_JSON}},
    ], "--run-id", "300", "--expect-sha", MERGE)
    assert same.returncode == 0, same.stderr


# -- the apply: apply.sh -----------------------------------------------------------------------

def reviewed_plan(tmp_path: Path, monkeypatch) -> ProjectRunner:
    project = cafe(tmp_path)
    monkeypatch.setenv("RECONCILER_STATE", state_url(tmp_path))
    made = project.run("plan", "--out", str(project.root / "plan.json"))
    assert made.exit_code == 0, made.output
    return project


def apply_sh(project: ProjectRunner, tmp_path: Path, **values: str) -> subprocess.CompletedProcess:
    values.setdefault("RECONCILER_STATE", state_url(tmp_path))
    return subprocess.run(["bash", str(SCRIPTS / "apply.sh"), "plan.json", "reconciler-ci"], cwd=project.root,
                          capture_output=True, text=True, env=env_for(tmp_path, **values))


def fake_sleep(tmp_path: Path, releases_lock: bool) -> None:
    """`sleep` for apply.sh: instead of waiting, the other job finishes (or does not)."""
    script = tmp_path / "bin" / "sleep"
    script.parent.mkdir(parents=True, exist_ok=True)
    release = (f"from reconciler.state import open_state\n"
               f"open_state({state_url(tmp_path)!r}, Path('.')).release('demo', 'cafe')\n") if releases_lock else ""
    script.write_text(f"#!{sys.executable}\nfrom pathlib import Path\n"
                      f"open({str(tmp_path / 'slept')!r}, 'a').write('slept\\n')\n{release}")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def hold_lock(project: ProjectRunner, tmp_path: Path) -> None:
    state = open_state(state_url(tmp_path), project.root)
    try:
        assert state.acquire("demo", "cafe", "another-apply", timedelta(minutes=10)) is None
    finally:
        state.close()


def test_the_reviewed_plan_is_applied_and_the_pull_request_told(tmp_path, monkeypatch):
    project = reviewed_plan(tmp_path, monkeypatch)
    result = apply_sh(project, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "demo/cafe: applied" in result.stdout
    body = comment.apply_body(comment.Outputs(project.root / "reconciler-ci"))
    assert body.startswith("<!-- reconciler-apply -->\n### Reconciler apply: applied") and "demo/cafe: applied" in body


def test_an_apply_waits_for_a_store_another_apply_holds(tmp_path, monkeypatch):
    project = reviewed_plan(tmp_path, monkeypatch)
    hold_lock(project, tmp_path)
    fake_sleep(tmp_path, releases_lock=True)
    result = apply_sh(project, tmp_path, RECONCILER_LOCK_WAIT="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "slept").read_text() == "slept\n"  # one wait, then the store was free
    assert "demo/cafe: locked" in result.stdout  # the first attempt
    assert "demo/cafe: applied" in (project.root / "reconciler-ci" / "apply.out").read_text()  # the last


def test_an_apply_gives_up_on_a_store_that_stays_locked_and_says_so(tmp_path, monkeypatch):
    project = reviewed_plan(tmp_path, monkeypatch)
    hold_lock(project, tmp_path)
    fake_sleep(tmp_path, releases_lock=False)
    result = apply_sh(project, tmp_path, RECONCILER_LOCK_ATTEMPTS="3")
    assert result.returncode == 1
    assert (tmp_path / "slept").read_text() == "slept\n" * 2
    assert "demo/cafe: locked" in result.stdout and "locked by another-apply" in result.stdout
    body = comment.apply_body(comment.Outputs(project.root / "reconciler-ci"))
    assert "### Reconciler apply: failed (exit 1)" in body and "plan_run_id" in body


def test_an_overtaken_plan_is_refused_with_nothing_sent(tmp_path, monkeypatch):
    project = reviewed_plan(tmp_path, monkeypatch)
    other = project.run("apply", "--auto-approve")  # another merge's apply got there first
    assert other.exit_code == 0, other.output
    result = apply_sh(project, tmp_path)
    assert result.returncode == 1
    assert "is stale; nothing was sent" in result.stderr
    body = comment.apply_body(comment.Outputs(project.root / "reconciler-ci"))
    assert "is stale; nothing was sent" in body and "Nothing unreviewed was sent" in body


def test_the_apply_comment_says_why_when_there_was_no_plan(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "fetch.err").write_text("not applied: pull request #7 has no run of reconciler-plan.yml\n")
    body = comment.apply_body(comment.Outputs(out))
    assert body.startswith("<!-- reconciler-apply -->\n### Reconciler apply: not applied")
    assert "has no run of reconciler-plan.yml" in body

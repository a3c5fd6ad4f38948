"""Find the plan that was reviewed for what is being applied, and download it.

    python3 fetch_plan.py --merge-sha SHA --out DIR
        the pull request merged as commit SHA (a push to main): the plan artifact of the
        newest run of reconciler-plan.yml for the pull request's exact head commit
    python3 fetch_plan.py --run-id ID --expect-sha SHA --out DIR
        the plan a by-hand run of reconciler-apply.yml made of main at commit SHA

Writes DIR/plan.json and DIR/plan-run-url.txt, and pr=, head_sha=, run_id= to
$GITHUB_OUTPUT. When there is no such plan (a direct push, a pull request that never ran
the plan workflow, a plan run that failed or whose artifact expired) it says so on stderr
and in DIR/fetch.err and exits 1: nothing is applied without a reviewed plan.

The run is chosen by the head commit's SHA, never by branch name: a branch can be pushed
again after the merge, and a newer run on it planned something nobody approved here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

PLAN_WORKFLOW = "reconciler-plan.yml"
RECOVER = ("run the reconciler apply workflow by hand on main to make a plan of main, review it, and run it "
           "again with that run's id as plan_run_id to apply exactly that plan")


class Refused(Exception):
    pass


def gh(*args: str) -> str:
    result = subprocess.run(["gh", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise Refused(f"gh {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def gh_json(*args: str) -> object:
    return json.loads(gh(*args) or "null")


def merged_pull_request(repo: str, sha: str) -> dict:
    pulls = gh_json("api", f"repos/{repo}/commits/{sha}/pulls")
    merged = [p for p in pulls if p.get("merged_at") and p.get("merge_commit_sha") == sha]
    if not merged:
        raise Refused(f"commit {sha} on main is not the merge of a pull request (a direct push?), so there is "
                      f"no reviewed plan for it; {RECOVER}")
    return merged[0]


def completed(repo: str, run: dict) -> dict:
    """The run once finished: a merge can land while its plan run is still going."""
    if run.get("status") != "completed":
        print(f"waiting for plan run {run['databaseId']} to finish", file=sys.stderr)
        subprocess.run(["gh", "run", "watch", str(run["databaseId"]), "--repo", repo, "--interval", "30"],
                       stdout=sys.stderr, check=False)
        run = gh_json("run", "view", str(run["databaseId"]), "--repo", repo,
                      "--json", "databaseId,status,conclusion,headSha,url")
    return run


def plan_run_of_pull_request(repo: str, pr: dict) -> dict:
    head = pr["head"]["sha"]
    runs = gh_json("run", "list", "--repo", repo, "--workflow", PLAN_WORKFLOW, "--event", "pull_request",
                   "--commit", head, "--limit", "50",
                   "--json", "databaseId,status,conclusion,headSha,url,createdAt")
    runs = [r for r in runs if r.get("headSha") == head]
    if not runs:
        raise Refused(f"pull request #{pr['number']} has no run of {PLAN_WORKFLOW} for its head commit {head}, "
                      f"so nobody reviewed a plan of what was merged; {RECOVER}")
    run = completed(repo, max(runs, key=lambda r: r.get("createdAt", "")))
    if run.get("conclusion") != "success":
        raise Refused(f"the plan run for head commit {head} of pull request #{pr['number']} ended "
                      f"{run.get('conclusion') or run.get('status')} ({run.get('url', '')}): a plan that failed, "
                      f"was refused or was never finished is not applied; {RECOVER}")
    return run


def by_hand_run(repo: str, run_id: str, sha: str) -> dict:
    run = gh_json("run", "view", run_id, "--repo", repo,
                  "--json", "databaseId,status,conclusion,headSha,event,workflowName,url")
    if run.get("event") != "workflow_dispatch" or run.get("conclusion") != "success":
        raise Refused(f"run {run_id} is not a finished, successful by-hand run of reconciler apply "
                      f"({run.get('event')}, {run.get('conclusion') or run.get('status')})")
    if run.get("headSha") != sha:
        raise Refused(f"run {run_id} planned commit {run.get('headSha')}, but main is now at {sha}: "
                      "make a new plan of main and review it")
    return run


def download(repo: str, run: dict, artifact: str, out: Path) -> None:
    target = out / "artifact"
    try:
        gh("run", "download", str(run["databaseId"]), "--repo", repo, "--name", artifact, "--dir", str(target))
    except Refused as exc:
        raise Refused(f"the plan artifact {artifact} of run {run.get('url') or run['databaseId']} could not be "
                      f"downloaded (expired, or the run made none): {exc}; {RECOVER}") from None
    plan = target / "plan.json"
    if not plan.is_file():
        raise Refused(f"the artifact {artifact} of run {run['databaseId']} holds no plan.json")
    plan.replace(out / "plan.json")
    (out / "plan-run-url.txt").write_text(run.get("url", "") + "\n", encoding="utf-8")


def output(**values: object) -> None:
    path = os.environ.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            for key, value in values.items():
                f.write(f"{key}={value}\n")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--merge-sha")
    parser.add_argument("--run-id")
    parser.add_argument("--expect-sha")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    repo = os.environ.get("GITHUB_REPOSITORY", "")
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        if not repo:
            raise Refused("GITHUB_REPOSITORY is not set (owner/name)")
        if args.merge_sha:
            pr = merged_pull_request(repo, args.merge_sha)
            output(pr=pr["number"], head_sha=pr["head"]["sha"])
            run = plan_run_of_pull_request(repo, pr)
            download(repo, run, f"reconciler-plan-{pr['number']}", args.out)
        elif args.run_id and args.expect_sha:
            run = by_hand_run(repo, args.run_id, args.expect_sha)
            download(repo, run, "reconciler-plan-main", args.out)
        else:
            parser.error("give --merge-sha, or --run-id with --expect-sha")
        output(run_id=run["databaseId"])
        print(f"plan of run {run.get('url') or run['databaseId']} in {args.out / 'plan.json'}")
        return 0
    except Refused as exc:
        message = f"not applied: {exc}"
        (args.out / "fetch.err").write_text(message + "\n", encoding="utf-8")
        print(f"error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The bodies of the two comments the workflows keep on a pull request.

    python3 comment.py plan DIR     the plan, from what pr_plan.sh kept in DIR
    python3 comment.py apply DIR    the outcome of the apply, from what fetch_plan.py and apply.sh kept

A body is always written, whatever failed, and carries the error text when there is one.
Its first line is its marker, by which sticky_comment.py finds the comment to update, and
it stays under GitHub's 65,536-character limit: stores' details are left out from the end
first (the plan artifact has them all), then long error texts are cut.

DIR holds, per command NAME that ran, NAME.out, NAME.err and NAME.code (its exit status);
a command that did not run has no NAME.code.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import config_changes

PLAN_MARKER = "<!-- reconciler-plan -->"  # the first line of `reconciler plan --format markdown`
APPLY_MARKER = "<!-- reconciler-apply -->"
LIMIT = 65536
ERROR_TEXT = 20000  # characters of one command's output shown; the run log has the rest
OK, ERROR, CHANGES, REFUSED = 0, 1, 2, 3


class Outputs:
    """What the commands left in DIR."""

    def __init__(self, directory: Path):
        self.dir = directory

    def text(self, name: str) -> str:
        path = self.dir / name
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def code(self, name: str) -> int | None:
        text = self.text(f"{name}.code").strip()
        return int(text) if text.lstrip("-").isdigit() else None

    def both(self, name: str) -> str:
        return "\n".join(t for t in (self.text(f"{name}.out").strip(), self.text(f"{name}.err").strip()) if t)


def fenced(text: str) -> str:
    """Text as a code block that nothing inside can close, cut to ERROR_TEXT characters."""
    text = text.strip() or "(no output)"
    if len(text) > ERROR_TEXT:
        text = text[:ERROR_TEXT] + f"\n… {len(text) - ERROR_TEXT:,} more characters in the run log"
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def run_link() -> str:
    server, repo, run = (os.environ.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    return f"[run log]({server}/{repo}/actions/runs/{run})" if server and repo and run else "the run log"


def fit(head: list[str], details: str, tail: list[str], artifact: str) -> str:
    """head + details + tail under LIMIT, leaving whole stores' <details> out from the end."""
    def joined(middle: str) -> str:
        return "\n".join([*head, middle, *tail]).rstrip() + "\n"

    body = joined(details)
    if len(body) <= LIMIT:
        return body
    starts = [m.start() for m in re.finditer(r"(?m)^<details>", details)]
    while starts:
        cut = starts.pop()
        left_out = len(re.findall(r"(?m)^<details>", details[cut:]))
        kept = details[:cut].rstrip() + (
            f"\n\n_{left_out} more stores' details left out to stay under GitHub's {LIMIT:,}-character limit; "
            f"the plan artifact `{artifact}` has them (`reconciler show plan.json`)._")
        body = joined(kept)
        if len(body) <= LIMIT:
            return body
    return body[: LIMIT - 200] + f"\n\n_Cut to stay under GitHub's {LIMIT:,}-character limit; see {run_link()}._\n"


def config_callout(outputs: Outputs, project: Path) -> list[str]:
    lines = []
    head_config = project / "reconciler.yaml"
    base_config = outputs.dir / "base-reconciler.yaml"
    if not outputs.text("base-sha.txt").strip():
        return []  # not compared with a base branch (a run outside a pull request)
    if head_config.exists():
        try:
            base = config_changes.load(base_config)
            head = config_changes.load(head_config)
            lines = [f"- {line}" for line in config_changes.changes(base, head)] if head is not None else []
        except config_changes.Unreadable as exc:
            lines = [f"- `reconciler.yaml` does not read as YAML ({exc}); its backends could not be compared."]
    ci_files = [f for f in outputs.text("changed-ci-files.txt").splitlines() if f.strip()]
    lines += [f"- CI file changed: `{f}` (this plan job ran this pull request's version of it)" for f in ci_files[:20]]
    if len(ci_files) > 20:
        lines.append(f"- and {len(ci_files) - 20} more CI files")
    if not lines:
        return []
    return ["", "#### :warning: This pull request changes where the reconciler sends data or secrets", "",
            "After the merge, the apply job gives the backend secrets to these settings. "
            "Check each line with the owners of the backends before approving.", "", *lines[:50],
            *([f"- and {len(lines) - 50} more"] if len(lines) > 50 else []), ""]


def _without_notes(text: str) -> str:
    """The error of a refused plan, without the `plan written to FILE` note before it."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("plan written to "))


def plan_body(outputs: Outputs, project: Path, artifact: str) -> str:
    validate, fmt, plan = outputs.code("validate"), outputs.code("fmt"), outputs.code("plan")
    callout = config_callout(outputs, project)
    tail: list[str] = []
    if fmt not in (None, OK):
        tail += ["", "#### Formatting", "",
                 "`reconciler fmt --check` found files that are not written canonically; "
                 "run `reconciler fmt` and commit the result:", "", fenced(outputs.both("fmt"))]
    planned = validate == OK and plan in (OK, CHANGES, REFUSED)
    tail += ["", "<sub>" + ("Planned from the state store (`--no-refresh`) by a job that holds no backend "
                            "credential and contacts no backend: stock sold at the tills of a backend that can be "
                            "read (VirtPOS) since the last apply is not in this plan; the drift check reads it. "
                            if planned else "") + f"See {run_link()}.</sub>"]

    if outputs.code("setup") not in (None, OK):
        head = [PLAN_MARKER, "### Reconciler plan: the plan job is not set up", *callout,
                "", "Nothing was planned:", "", fenced(outputs.both("setup"))]
        return fit(head, "", tail, artifact)
    if validate != OK:
        head = [PLAN_MARKER, "### Reconciler plan: the project is not valid", *callout,
                "", "`reconciler validate` found problems; nothing was planned:", "", fenced(outputs.both("validate"))]
        return fit(head, "", tail, artifact)
    if plan in (OK, CHANGES, REFUSED):
        markdown = outputs.text("plan.out").splitlines()
        if markdown and markdown[0].strip() == PLAN_MARKER:
            markdown = markdown[1:]
        title, rest = (markdown[0], "\n".join(markdown[1:])) if markdown else ("### Reconciler plan", "")
        head = [PLAN_MARKER, title, *callout]
        if plan == REFUSED:
            head += ["", "**Refused by the safety thresholds (exit 3): this plan cannot be applied.** "
                     "If the change is meant, raise the threshold (`safety:` in `reconciler.yaml`) in this "
                     "pull request, where the reviewers see it.", "", fenced(_without_notes(outputs.text("plan.err")))]
        return fit(head, rest, tail, artifact)
    what = "did not run" if plan is None else f"exited {plan}"
    head = [PLAN_MARKER, "### Reconciler plan failed", *callout,
            "", f"`reconciler plan` {what}; nothing can be applied from this pull request until it plans:", "",
            fenced(outputs.both("plan"))]
    return fit(head, "", tail, artifact)


def apply_body(outputs: Outputs) -> str:
    code = outputs.code("apply")
    reviewed = outputs.text("plan-run-url.txt").strip()
    source = f"the plan reviewed in [this run]({reviewed})" if reviewed else "the reviewed plan"
    recover = ("Nothing unreviewed was sent. The catalog on main is now ahead of the backends, and the drift "
               "check will say so. To catch up, run the **reconciler apply** workflow by hand on main: it plans "
               "main and shows the plan; run it again with that run's id as `plan_run_id` to apply exactly that plan.")
    if code is None:
        head = [APPLY_MARKER, "### Reconciler apply: not applied", "",
                "No reviewed plan could be found for this merge:", "", fenced(outputs.text("fetch.err")), "", recover]
    elif code == OK:
        head = [APPLY_MARKER, "### Reconciler apply: applied", "", f"Applied {source}:", "",
                fenced(outputs.both("apply"))]
    else:
        head = [APPLY_MARKER, f"### Reconciler apply: failed (exit {code})", "",
                f"Applying {source} did not complete:", "", fenced(outputs.both("apply")), "", recover]
    return fit(head, "", ["", f"<sub>See {run_link()}.</sub>"], "plan.json")


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("plan", "apply"):
        print(__doc__, file=sys.stderr)
        return 2
    outputs = Outputs(Path(argv[1]))
    if argv[0] == "plan":
        artifact = os.environ.get("PLAN_ARTIFACT", "plan.json")
        sys.stdout.write(plan_body(outputs, Path(os.environ.get("RECONCILER_PROJECT", ".")), artifact))
    else:
        sys.stdout.write(apply_body(outputs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

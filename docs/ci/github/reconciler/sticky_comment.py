"""Keep one comment per marker on a pull request: update it, or create it the first time.

    python3 sticky_comment.py PR_NUMBER BODY_FILE

The marker is BODY_FILE's first line (`<!-- reconciler-plan -->`). Only comments written
by COMMENT_AUTHOR (default `github-actions[bot]`, the workflow token's user) count as
ours: anyone can write a comment starting with the marker. Should several of ours exist
(two runs that raced before the workflow had its concurrency group), the oldest is
updated and the others deleted, so the pull request has exactly one.

Talks to GitHub through `gh api` (GH_TOKEN, GITHUB_REPOSITORY from the workflow).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


class GitHubError(Exception):
    pass


def gh_api(*args: str, body: dict | None = None) -> object:
    command = ["gh", "api", *args] + (["--input", "-"] if body is not None else [])
    result = subprocess.run(command, input=json.dumps(body) if body is not None else None,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise GitHubError(f"gh api {' '.join(args)}: {result.stderr.strip() or result.stdout.strip()}")
    return json.loads(result.stdout) if result.stdout.strip() else None


def our_comments(repo: str, pr: str, marker: str, author: str) -> list[dict]:
    pages = gh_api("--paginate", "--slurp", f"repos/{repo}/issues/{pr}/comments")
    comments = [c for page in pages for c in page]  # --slurp: a list of pages
    return sorted((c for c in comments
                   if (c.get("user") or {}).get("login") == author and (c.get("body") or "").startswith(marker)),
                  key=lambda c: c["id"])


def post(repo: str, pr: str, body: str, author: str) -> str:
    marker = body.splitlines()[0] if body.strip() else ""
    if not marker.startswith("<!--"):
        raise GitHubError(f"the body's first line must be its marker comment, not {marker[:60]!r}")
    ours = our_comments(repo, pr, marker, author)
    if not ours:
        created = gh_api("-X", "POST", f"repos/{repo}/issues/{pr}/comments", body={"body": body})
        return f"created comment {created['id']}"
    keep, *extra = ours
    gh_api("-X", "PATCH", f"repos/{repo}/issues/comments/{keep['id']}", body={"body": body})
    for comment in extra:
        gh_api("-X", "DELETE", f"repos/{repo}/issues/comments/{comment['id']}")
    return f"updated comment {keep['id']}" + (f", deleted {len(extra)} duplicate(s)" if extra else "")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    repo = os.environ.get("GITHUB_REPOSITORY", "")
    if not repo:
        print("GITHUB_REPOSITORY is not set (owner/name)", file=sys.stderr)
        return 1
    try:
        print(post(repo, argv[0], Path(argv[1]).read_text(encoding="utf-8"),
                   os.environ.get("COMMENT_AUTHOR", "github-actions[bot]")))
    except (GitHubError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

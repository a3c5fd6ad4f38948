"""A stand-in for the `gh` command line, for the CI helper scripts' tests.

GitHub itself cannot be reached from a test, so the scripts' one seam to it, the `gh`
program on PATH, is replaced: `install(bin_dir, responses)` writes a `gh` there that
answers from `responses`, a list of {"args": [...], "stdout": str or JSON value,
"code": int, "files": {name: text}}. The first entry whose "args" is a prefix of the call's
arguments answers; "files" are written into the call's `--dir` (as `gh run download`
does). Every call (arguments and standard input) is appended to calls.jsonl beside it.
A call nothing answers exits 1, so a script that asks GitHub something unexpected fails.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path


def install(bin_dir: Path, responses: list[dict]) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / "gh-responses.json").write_text(json.dumps(responses), encoding="utf-8")
    gh = bin_dir / "gh"
    gh.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
                  "from fake_gh import main\nsys.exit(main())\n", encoding="utf-8")
    gh.chmod(gh.stat().st_mode | stat.S_IEXEC)
    return bin_dir / "calls.jsonl"


def calls(bin_dir: Path) -> list[dict]:
    log = bin_dir / "calls.jsonl"
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []


def main() -> int:
    here = Path(sys.argv[0]).resolve().parent
    args = sys.argv[1:]
    stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    with open(here / "calls.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps({"args": args, "stdin": stdin, "token": os.environ.get("GH_TOKEN")}) + "\n")
    for response in json.loads((here / "gh-responses.json").read_text(encoding="utf-8")):
        if args[: len(response["args"])] == response["args"]:
            if "--dir" in args:
                target = Path(args[args.index("--dir") + 1])
                for name, text in response.get("files", {}).items():
                    (target / name).parent.mkdir(parents=True, exist_ok=True)
                    (target / name).write_text(text, encoding="utf-8")
            out = response.get("stdout", "")
            sys.stdout.write(out if isinstance(out, str) else json.dumps(out))
            return response.get("code", 0)
    sys.stderr.write(f"fake gh: no answer for {args}\n")
    return 1

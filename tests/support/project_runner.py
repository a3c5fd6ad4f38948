"""A project directory and the CLI run in-process against it."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner, Result

from reconciler.cli import main

REPO = Path(__file__).resolve().parents[2]
CATALOGS = REPO / "catalogs"
EXAMPLES = sorted(p.name for p in CATALOGS.iterdir() if (p / "reconciler.yaml").is_file())


@dataclass
class ProjectRunner:
    """A project directory and a way to run `reconciler -C <dir> ...` against it."""

    root: Path

    def run(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(main, ["-C", str(self.root), *args], input=input, catch_exceptions=False)

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def edit(self, relative: str, old: str, new: str) -> None:
        path = self.root / relative
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {relative}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")


def copy_example(name: str, tmp_path: Path) -> ProjectRunner:
    target = tmp_path / name
    shutil.copytree(CATALOGS / name, target, ignore=shutil.ignore_patterns(".reconciler"))
    return ProjectRunner(target)

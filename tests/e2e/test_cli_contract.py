"""The command line a CI pipeline relies on: exit codes, spellings, selectors, Ctrl-C,
JSON events, state surgery, and a start-up that imports no engine."""

from __future__ import annotations

import json
import os
import re
import pty
import select
import signal
import subprocess
import sys
import time

import pytest

from dstore_helpers import emulator_of
from loopback import serve
from project_runner import copy_example
from reconciler.emulation import Fault
from reconciler.state import open_state

CLI = [sys.executable, "-c", "from reconciler.cli import main; main()"]


@pytest.fixture
def examples(tmp_path):
    return copy_example("dstore-examples", tmp_path)


@pytest.mark.parametrize("args", [
    ["plan", "-d"], ["plan", "--bogus"], ["plan", "-detailed-exitcod"], ["plan", "--format", "yaml"],
    ["apply", "--lock-timeout", "soon"], ["plan", "--shard", "9/3"], ["nosuchcommand"],
])
def test_a_usage_error_exits_1_never_2_which_means_changes(examples, args):
    result = examples.run(*args)
    assert result.exit_code == 1, result.output
    assert "Error:" in result.output or "error:" in result.output


def test_terraforms_one_dash_spellings_are_accepted(examples, tmp_path):
    out = tmp_path / "plan.json"
    result = examples.run("plan", "-detailed-exitcode", f"-out={out}", "-no-color")
    assert result.exit_code == 2, result.output  # changes present, as Terraform says it
    assert json.loads(out.read_text())["format_version"] == 1
    assert examples.run("plan", "-json").stdout.startswith("{")
    applied = examples.run("apply", "-auto-approve", "-lock-timeout=5s", "-parallelism=2")
    assert applied.exit_code == 0, applied.output
    assert examples.run("plan", "-refresh-only").exit_code == 0


def test_another_one_dash_word_is_refused_with_a_suggestion(examples):
    result = examples.run("plan", "-detailed-exitcod")
    assert result.exit_code == 1
    assert "no such option: -detailed-exitcod; did you mean --detailed-exitcode?" in result.output


def test_dash_c_works_before_and_after_the_command(examples, tmp_path):
    from click.testing import CliRunner

    from reconciler.cli import main

    for args in (["-C", str(examples.root), "validate"], ["validate", "-C", str(examples.root)]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0 and result.output.startswith("ok: 6 menus"), (args, result.output)
    elsewhere = CliRunner().invoke(main, ["validate"])  # the test's own directory holds no project
    assert elsewhere.exit_code == 1 and "no reconciler.yaml" in elsewhere.output


def test_a_selector_that_matches_nothing_names_what_exists(examples):
    result = examples.run("plan", "--store", "sg-00*")
    assert result.exit_code == 1
    assert ("--store 'sg-00*' matches no store binding; there are: basic, bundle, combo, modifier-group, "
            "nested-modifiers, variant") in result.output
    assert examples.run("plan", "--backend", "dem*", "--store", "b*").exit_code == 0
    assert "--backend 'dstore' matches no store binding; there are: demo" in examples.run("apply", "--backend", "dstore").output


def test_no_color_and_NO_COLOR_give_plain_text(examples, monkeypatch):
    assert "\x1b[" not in examples.run("--no-color", "plan").output
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in examples.run("plan").output


def test_apply_json_is_one_object_a_line_that_ci_can_parse(examples):
    result = examples.run("apply", "--auto-approve", "--json")
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "plan" and kinds[-1] == "summary"
    done = [e for e in events if e["type"] == "action"]
    assert sorted(e["store"] for e in done) == ["basic", "bundle", "combo", "modifier-group", "nested-modifiers",
                                               "variant"]
    assert all(e["outcome"] == "done" and e["kind"] == "syncProduct.full" for e in done)
    assert events[-1] == {"type": "summary", "applied": 6, "not_applied": 0, "exit_code": 0}
    refused = examples.run("apply", "--auto-approve", "--json", "--store", "nope")
    assert refused.exit_code == 1
    [error] = [json.loads(line) for line in refused.stdout.splitlines()]
    assert error["type"] == "error" and "matches no store binding" in error["message"] and error["exit_code"] == 1


def test_parallelism_bounds_the_stores_applied_at_once(examples):
    result = examples.run("apply", "--auto-approve", "--parallelism", "1")
    assert result.exit_code == 0, result.output
    assert examples.run("apply", "--parallelism", "0").exit_code == 1


def test_state_mv_after_renaming_a_store_and_state_rm(examples):
    assert examples.run("apply", "--auto-approve").exit_code == 0
    examples.edit("stores/stores.yaml", "  basic: {name: s1-name", "  starter: {name: s1-name")
    renamed = examples.run("plan")  # without mv: a new store, and the old one's products to remove
    assert "demo / starter" in renamed.output and "Not sent: 1 to remove" in renamed.output
    moved = examples.run("state", "mv", "demo", "basic", "starter")
    assert moved.exit_code == 0 and "demo/basic is now demo/starter; nothing was sent" in moved.output
    assert examples.run("plan", "--detailed-exitcode").exit_code == 0
    assert examples.run("state", "mv", "demo", "starter", "combo").exit_code == 1  # combo has a row
    sent = len(emulator_of(examples.root).requests)
    forgot = examples.run("state", "rm", "demo", "starter")
    assert forgot.exit_code == 0 and "the backend was not touched" in forgot.output
    assert len(emulator_of(examples.root).requests) == sent
    plan = examples.run("plan")
    assert "demo / starter" in plan.output and "full path - no state recorded for this store yet" in plan.output
    assert examples.run("state", "rm", "demo", "starter").exit_code == 1


def test_start_up_imports_no_engine():
    code = ("import sys, reconciler.cli; heavy = [m for m in ('reconciler.planner', 'reconciler.applier', "
            "'reconciler.project', 'pydantic', 'httpx', 'rich') if m in sys.modules]; print(heavy)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
    assert subprocess.run([*CLI, "--version"], capture_output=True, text=True).stdout.startswith("reconciler, version")


def _slow_chain(tmp_path):
    """dstore-examples behind a loopback emulator whose every request takes 1.5 s."""
    from harness import DStoreHarness

    harness = DStoreHarness(tmp_path / "p", stores=4, products=3, timeout=10)
    harness.emulator.faults.add(Fault("latency", seconds=1.5, times=100))
    return harness


def _spawn(harness, url, *args, tty=False):
    text = (harness.root / "reconciler.yaml").read_text().replace("https://dstore.invalid", url)
    (harness.root / "reconciler.yaml").write_text(text)
    command = [*CLI, "-C", str(harness.root), *args]
    if tty:
        pid, fd = pty.fork()
        if pid == 0:  # pragma: no cover - the child
            os.execv(sys.executable, command)
        return pid, fd
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_ctrl_c_stops_before_the_next_request_reports_and_exits_130(tmp_path):
    harness = _slow_chain(tmp_path)
    with serve(harness.emulator.app) as url:
        job = _spawn(harness, url, "apply", "--auto-approve", "--parallelism", "1")
        deadline = time.monotonic() + 30
        while not harness.emulator.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        job.send_signal(signal.SIGINT)  # the first store's request is in flight
        output = job.communicate(timeout=60)[0]
    assert job.returncode == 130, output
    assert "Interrupted: no new request is sent; the ones in flight finish and are recorded" in output
    [(applied, left)] = re.findall(r"Apply interrupted: (\d) applied, (\d) not applied\.", output)
    assert int(applied) + int(left) == 4 and int(left) >= 1
    assert output.count(": interrupted, 0 requests - stopped by Ctrl-C") == int(left)
    assert "applying again resumes with the rest" in output.lower()
    assert len(harness.processed()) == int(applied)  # what was in flight finished; nothing else was sent
    state = open_state("sqlite:///.reconciler/state.db", harness.root)
    try:
        assert [(r.serial, r.unknown) for r in state.all()] == [(1, None)] * int(applied)
    finally:
        state.close()
    again = subprocess.run([*CLI, "-C", str(harness.root), "plan"], capture_output=True, text=True)
    assert f"{left} with changes" in again.stdout


def test_a_second_ctrl_c_abandons_the_request_in_flight_and_marks_its_store_unknown(tmp_path):
    harness = _slow_chain(tmp_path)
    harness.emulator.faults.pending.clear()
    harness.emulator.faults.add(Fault("latency", seconds=8, times=100))
    with serve(harness.emulator.app) as url:
        job = _spawn(harness, url, "apply", "--auto-approve", "--parallelism", "1")
        time.sleep(3)  # in flight: the emulator holds it for 8 s
        job.send_signal(signal.SIGINT)
        time.sleep(0.5)
        job.send_signal(signal.SIGINT)
        output = job.communicate(timeout=30)[0]
    assert job.returncode == 130, output
    assert "Abandoning the requests in flight; their stores are marked unknown" in output
    assert "abandoned by Ctrl-C while action 0 (syncProduct.full) was in flight" in output
    state = open_state("sqlite:///.reconciler/state.db", harness.root)
    try:
        [row] = state.all()
        assert row.store == "st0" and row.unknown.startswith("abandoned by Ctrl-C")
    finally:
        state.close()


def _read_until(fd: int, text: str, seconds: float = 60) -> str:
    seen, deadline = "", time.monotonic() + seconds
    while text not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 4096).decode(errors="replace")
            except OSError:
                break
    return seen


def _exit_code(pid: int, seconds: float = 60) -> int:
    """The child's exit code; a child still running after `seconds` is killed and fails the test."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError("the command did not end (is it waiting for Enter?)")


def test_the_confirmation_is_cancelled_by_no_and_interrupted_at_once_by_ctrl_c(tmp_path):
    harness = _slow_chain(tmp_path)
    harness.emulator.faults.pending.clear()
    with serve(harness.emulator.app) as url:
        pid, fd = _spawn(harness, url, "apply", tty=True)
        _read_until(fd, "Apply these changes? [y/N]")
        os.write(fd, b"n\r")
        assert "Apply cancelled." in _read_until(fd, "Apply cancelled.")
        assert _exit_code(pid) == 1
        pid, fd = _spawn(harness, url, "apply", tty=True)
        _read_until(fd, "Apply these changes? [y/N]")
        os.write(fd, b"\x03")  # Ctrl-C, and no Enter ever: a prompt that waited for one would hang here
        said = _read_until(fd, "nothing was sent", seconds=60)
        assert "Apply cancelled (interrupted); nothing was sent." in said
        assert _exit_code(pid) == 130
    assert harness.emulator.requests == []

"""Reading what the in-process D-Store emulator of a project received and holds."""

from __future__ import annotations

from pathlib import Path

from reconciler_dstore.emulator import DStoreEmulator


def emulator_of(project_root: Path, backend: str = "demo") -> DStoreEmulator:
    """A fresh view of the emulator data the CLI left under .reconciler/ (read after a run)."""
    return DStoreEmulator(path=project_root / ".reconciler" / "emulators" / backend / "data.json")


def processed(emulator: DStoreEmulator) -> list[dict]:
    """Requests the emulator acted on (not replays, not rejected before processing)."""
    return [r for r in emulator.requests if r.get("mode") and not r.get("replayed") and r["result"]["resultStatus"] == "S"]

"""Measuring helpers: results, the machine's Ed25519 limit, process-tree memory, the machine."""

from __future__ import annotations

import multiprocessing
import os
import platform
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any


@dataclass
class Result:
    """One benchmark: its value, the baseline measured in the same run, and the target.

    ``ratio`` is value / baseline for relative benchmarks; absolute ones (milliseconds,
    megabytes) have no baseline and compare the value itself with the target.
    """

    name: str
    value: float
    unit: str
    baseline: float | None
    ratio: float | None
    target: str
    met: bool | None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    step_target: str = ""
    """The target of issue 12's current step for this row ("" when the step names none); the
    ``target`` above stays the goal."""
    step_met: bool | None = None

    def as_json(self) -> dict[str, Any]:
        """The results.json entry."""
        doc = asdict(self)
        for key in ("value", "baseline", "ratio"):
            if isinstance(doc[key], float):
                doc[key] = round(doc[key], 4)
        return doc


def relative(name: str, value: float, baseline: float, unit: str, at_least: float,
             note: str = "", *, step: float | None = None, **extra: Any) -> Result:
    """A ratio benchmark: met when value / baseline >= ``at_least``; ``step`` is the lower
    target of the current step towards it (issue 12), reported beside it."""
    ratio = value / baseline if baseline else 0.0
    result = Result(name, value, unit, baseline, ratio, f"ratio >= {at_least}",
                    ratio >= at_least, note, extra)
    if step is not None:
        result.step_target, result.step_met = f"ratio >= {step}", ratio >= step
    return result


def absolute(name: str, value: float, unit: str, below: float, note: str = "",
             **extra: Any) -> Result:
    """An absolute benchmark: met when value < ``below``."""
    return Result(name, value, unit, None, None, f"< {below:g} {unit}", value < below, note,
                  extra)


def not_yet(name: str, unit: str, target: str, note: str) -> Result:
    """A benchmark that cannot run yet (its feature is missing)."""
    return Result(name, float("nan"), unit, None, None, target, None, note)


# ------------------------------------------------------------------ Ed25519 limit
_MESSAGE = b""


def _nacl_loop(seconds: float) -> int:
    import nacl.signing

    key = nacl.signing.SigningKey(b"\x01" * 32)
    verify_key = key.verify_key
    sig = key.sign(_MESSAGE).signature
    done = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(100):
            verify_key.verify(_MESSAGE, sig)
        done += 100
    return done


def _openssl_loop(seconds: float) -> int:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
    )

    key = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32)
    public = key.public_key()
    sig = key.sign(_MESSAGE)
    done = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(100):
            public.verify(sig, _MESSAGE)
        done += 100
    return done


def _run_loop(args: tuple[str, float, bytes]) -> tuple[int, float]:
    global _MESSAGE  # noqa: PLW0603 - per-process message for the loops
    impl, seconds, message = args
    _MESSAGE = message
    start = time.perf_counter()
    done = (_nacl_loop if impl == "pynacl" else _openssl_loop)(seconds)
    return done, time.perf_counter() - start


def ed25519_rate(impl: str, message: bytes, processes: int, seconds: float = 3.0) -> float:
    """Signatures verified per second by ``processes`` processes together (``pynacl`` or
    ``openssl``), each verifying ``message`` for ``seconds``."""
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(processes) as pool:
        runs = pool.map(_run_loop, [(impl, seconds, message)] * processes)
    return sum(done / took for done, took in runs)


def ed25519_limit(message: bytes, seconds: float = 3.0) -> dict[str, float]:
    """The machine's Ed25519 verify rate on all cores for each binding, and the fastest."""
    cores = os.cpu_count() or 1
    rates = {impl: ed25519_rate(impl, message, cores, seconds) for impl in ("pynacl", "openssl")}
    rates["single_core_pynacl"] = ed25519_rate("pynacl", message, 1, seconds)
    return rates


# ------------------------------------------------------------------ memory of a process tree
def _tree(pid: int) -> list[int]:
    out = [pid]
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{tid}/children").read_text()
            for child in text.split():
                out.extend(_tree(int(child)))
    except OSError:
        pass
    return out


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_measuring_memory(argv: Sequence[str], env: dict[str, str] | None = None,
                         every: float = 0.05) -> tuple[subprocess.CompletedProcess[str], float,
                                                       float]:
    """Run ``argv``; return the completed process, its wall time and the peak of the summed
    proportional set size (PSS, MiB) of it and all its child processes, sampled ``every``
    seconds."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, sum(_pss_kib(p) for p in _tree(proc.pid)))
            stop.wait(every)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    took = time.perf_counter() - start
    stop.set()
    sampler.join()
    done = subprocess.CompletedProcess(argv, proc.returncode, out, err)
    return done, took, peak / 1024


# ------------------------------------------------------------------ timing
def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, list[float]]:
    """Run ``fn`` ``repeat`` times; return the median duration and all durations (seconds)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    ordered = sorted(times)
    return ordered[len(ordered) // 2], times


# ------------------------------------------------------------------ the machine
def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    info: dict[str, Any] = {"python": platform.python_version(), "cores": os.cpu_count(),
                            "platform": platform.platform()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
        info["load_before"] = os.getloadavg()
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for dist in ("eventsourcing", "pynacl", "cryptography", "orjson", "pydantic", "psycopg"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    versions["sqlite"] = sqlite3.sqlite_version
    info["versions"] = versions
    return info

"""The HTML case report rendered by headless Chromium (Debian's ``chromium``; ``make
browser-deps`` installs it). The test fails, never skips, when the browser is missing.

Checks: the DOM Chromium built (``--dump-dom``) holds the report's content and timeline; the
screenshot shows the timeline's colours (the SVG was painted); printing makes a PDF of
several landscape pages.

SQLite only: this is about how a browser renders the report's HTML, which does not depend on
the kind of store (``tests/test_reports.py`` builds the same reports on both kinds).
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

import cdlog.cli.cases_cmd
import cdlog.cli.report_cmd
from cdlog.cli.main import cli

assert cdlog.cli.cases_cmd.replay is not None  # the imports register the commands
assert cdlog.cli.report_cmd.report is not None

SCENARIOS = Path(__file__).resolve().parents[1] / "examples" / "scenarios"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]
COLOURS = {"CBP/OFO band": (0x1F, 0x5F, 0xA8), "ICE/OI band": (0xC2, 0x57, 0x1A),
           "eyes on": (0x2F, 0x85, 0x5A)}


def chromium_path() -> str:
    """The browser, or a failure that says how to install it."""
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found is None:
        pytest.fail("chromium is not installed: run `make browser-deps` "
                    "(apt-get install chromium)")
    return found


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run headless Chromium with a throwaway profile."""
    cmd = [chromium_path(), *FLAGS, f"--user-data-dir={profile}", *args]
    done = subprocess.run(cmd, capture_output=True, timeout=120, check=False,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTML report of scenario A, written by ``cdlog report case``."""
    folder = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{folder / 'x.db'}"
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CDLOG_PASSPHRASE", "test passphrase")
        done = runner.invoke(cli, ["--store", url, "replay",
                                   str(SCENARIOS / "A-MIA-CD-ACCEPTED.yaml")])
        assert done.exit_code == 0, done.output
    out = folder / "OP-2006-0001.html"
    done = runner.invoke(cli, ["--store", url, "report", "case", "OP-2006-0001", "--format",
                               "html", "--out", str(out)])
    assert done.exit_code == 0, done.output
    return out


def read_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB or RGBA PNG into (width, height, rows of RGB(A) bytes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + size]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8
            assert colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += size + 12
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if f == 1:
                line[x] = (line[x] + a) & 0xFF
            elif f == 2:
                line[x] = (line[x] + b) & 0xFF
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[x] = (line[x] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, stride // width, rows


def test_chromium_renders_the_case_report(report: Path, tmp_path: Path) -> None:
    dom = chromium(tmp_path / "p1", "--dump-dom", report.as_uri()).stdout.decode()
    assert "<svg" in dom
    assert 'class="timeline"' in dom
    svg = dom[dom.index("<svg"):dom.index("</svg>")]
    for label in ("CBP/OFO", "ICE/OI", "eyes on", "A-1 · CBP-3150", "SHAM-A · ICE-6610",
                  "released", "delivered", "14 Mar 2006"):
        assert label in svg, label
    text = re.sub(r"<[^>]+>", " ", dom)
    assert "Verified: all 37 events this report cites" in re.sub(r"\s+", " ", text)
    assert "19h50m before release" in text
    assert "OFO vault custody" in text
    assert re.search(r'id="ev-case-OP-2006-0001-16"', dom)
    assert "NOT verified" not in text


def test_the_timeline_is_painted(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    chromium(tmp_path / "p2", "--window-size=1280,900", f"--screenshot={shot}",
             report.as_uri())
    width, channels, rows = read_png(shot.read_bytes())
    assert (width, len(rows)) == (1280, 900)
    seen = dict.fromkeys(COLOURS, 0)
    for row in rows[150:600]:  # the timeline sits under the title and verification box
        for x in range(0, width * channels, channels):
            pixel = tuple(row[x:x + 3])
            for name, colour in COLOURS.items():
                if pixel == colour:
                    seen[name] += 1
    assert all(n > 200 for n in seen.values()), seen


def test_the_report_prints(report: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    chromium(tmp_path / "p3", "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
             report.as_uri())
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page\b", data))
    assert pages >= 3
    box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    assert box is not None
    assert float(box[1]) > float(box[2])

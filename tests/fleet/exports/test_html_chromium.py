"""The HTML fleet report, rendered by a real headless Chromium (Debian's package) and looked at.

The page is checked twice: the DOM Chromium built (text and structure), and
the pixels of its screenshot (not blank; the chart bars, the matrix cells and
the fleet-default box drawn, in that order down the page).
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.requirements import missing_chromium, skip_unless
from vmplatform.fleet.export_html import render_html, report_model
from vmplatform.fleet.export_view import FleetView, fleet_view
from vmplatform.model.platforms import PlatformSet
from vmplatform.resolution.baseline import baseline

from .conftest import corpus_reports, generated_fleet

pytestmark = pytest.mark.chromium

Image = pytest.importorskip("PIL.Image", reason="Pillow (PyPI) is a test dependency: pip install Pillow")

CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--hide-scrollbars"]
HOSTS = 100_000
BAR = (0xdd, 0x6b, 0x20)       # domain chart bars (templates/report.html.j2)
CELL = (0x2b, 0x6c, 0xb0)      # matrix: supported
DEFAULT_BOX = (0xc6, 0xf6, 0xd5)


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    skip_unless(missing_chromium)
    assert CHROMIUM is not None
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def big_fleet(platforms: PlatformSet) -> tuple[FleetView, list[object]]:
    """100,000 hosts drawn from 80 generated feature sets (real reports with features knocked out)."""
    # Every host keeps what the real hosts' common platform needs, so the fleet has a default.
    common = baseline(corpus_reports(), platforms).platform
    seeds = generated_fleet(platforms, 80, seed=1, keep=common.features)
    hosts = [(f"hv{i:06d}", seeds[(i * 7919) % len(seeds)][1]) for i in range(HOSTS)]
    return fleet_view(hosts, platforms), [r for _, r in seeds]


@pytest.fixture(scope="module")
def rendered(big_fleet: tuple[FleetView, list[object]]) -> Iterator[tuple[Path, str]]:
    view, _ = big_fleet
    work = Path(tempfile.mkdtemp(prefix="vmplatform-html-"))
    page = work / "report.html"
    page.write_text(render_html(report_model(view)), encoding="utf-8")
    yield page, page.read_text(encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)


def test_page_is_aggregated_not_one_row_per_host(big_fleet: tuple[FleetView, list[object]],
                                                 rendered: tuple[Path, str]) -> None:
    view, _ = big_fleet
    _, html = rendered
    assert view.host_count == HOSTS
    assert len(html) < 300_000                      # 100,000 hosts, yet a page a browser opens at once
    rows = re.findall(r'<tr class="domain">', html)
    assert len(rows) == min(40, len(view.domains())) and len(rows) > 3
    assert "<script" not in html                    # a static page: nothing to run


def test_chromium_dom_has_the_answers(big_fleet: tuple[FleetView, list[object]], rendered: tuple[Path, str],
                                      platforms: PlatformSet, tmp_path: Path) -> None:
    view, seed_reports = big_fleet
    page, _ = rendered
    out = _chromium(["--dump-dom", page.as_uri()], tmp_path / "profile")
    assert out.returncode == 0, out.stderr[-2000:]
    dom = out.stdout
    assert '<h1 id="title">vmplatform fleet report</h1>' in dom
    assert '<b id="host-count">100,000</b>' in dom
    assert f'<b id="domain-count">{len(view.domains())}</b>' in dom
    # The fleet default, computed here without the view: baseline() over the distinct reports.
    expected = baseline(seed_reports, platforms)  # type: ignore[arg-type]
    assert re.search(r'<div id="default">\s*<div class="name">' + re.escape(expected.platform.name) + "</div>", dom)
    held = dom[dom.index('id="held-back"'):]
    for n in expected.newer:
        row = held[held.index(f'<span class="pname">{n.platform.name}</span>'):]
        row = row[:row.index("</tr>")]
        lacking = {u.feature for hb in n.held_back_by for u in hb.lacks}
        assert set(re.findall(r'<span class="lack">([a-z0-9-]+) [\d,]+</span>', row)) == lacking
    # Every host is counted once: domain rows plus the summed rest make the fleet.
    sizes = [int(s.replace(",", "")) for s in re.findall(r'<tr class="domain">\s*<td class="h"><b>d-[0-9a-f]{10}</b> '
                                                         r'([\d,]+) hosts', dom)]
    rest = re.search(r'<tr class="rest"><td class="h"><b>\d+ more domains</b> ([\d,]+) hosts', dom)
    assert sum(sizes) + (int(rest.group(1).replace(",", "")) if rest else 0) == HOSTS
    assert sizes == sorted(sizes, reverse=True)
    assert dom.count('<rect ') >= min(len(view.domains()), 21) - 1


def test_chromium_screenshot_shows_chart_matrix_and_default(rendered: tuple[Path, str], tmp_path: Path) -> None:
    page, _ = rendered
    shot = tmp_path / "report.png"
    out = _chromium([f"--screenshot={shot}", "--window-size=1400,2400", page.as_uri()], tmp_path / "profile")
    assert out.returncode == 0 and shot.exists(), out.stderr[-2000:]
    img = Image.open(shot).convert("RGB")
    assert img.size == (1400, 2400)
    w, h = img.size
    px = img.load()

    def near(c: tuple[int, int, int]) -> tuple[int, int, int] | None:
        for want in rows_with:  # colour management may move a channel by a few steps
            if all(abs(a - b) <= 6 for a, b in zip(c, want, strict=False)):
                return want
        return None

    rows_with: dict[tuple[int, int, int], list[int]] = {BAR: [], CELL: [], DEFAULT_BOX: []}
    counts = dict.fromkeys(rows_with, 0)
    colours = set()
    for y in range(0, h, 3):
        seen_here = set()
        for x in range(0, w, 3):
            c = px[x, y]
            colours.add(c)
            hit = near(c)
            if hit is not None:
                counts[hit] += 1
                seen_here.add(hit)
        for c in seen_here:
            rows_with[c].append(y)
    assert len(colours) > 30, "the page rendered blank"
    assert counts[DEFAULT_BOX] > 1_000, "no fleet-default box"
    assert counts[BAR] > 1_000, "no domain chart bars"
    assert counts[CELL] > 1_000, "no supported cells in the matrix"
    # Down the page: default box, then chart, then matrix.
    assert min(rows_with[DEFAULT_BOX]) < min(rows_with[BAR]) < min(rows_with[CELL])
    # The title is drawn in the first lines (dark text on white).
    assert any(sum(px[x, y]) < 150 for y in range(10, 60) for x in range(20, 400))


def test_no_common_platform_is_said_plainly(platforms: PlatformSet, tmp_path: Path) -> None:
    fleet = generated_fleet(platforms, 30, seed=1)   # tap-vnet-hdr knocked out somewhere: nothing is common
    view = fleet_view(fleet, platforms)
    assert view.baseline() is None
    page = tmp_path / "r.html"
    page.write_text(render_html(report_model(view)), encoding="utf-8")
    out = _chromium(["--dump-dom", page.as_uri()], tmp_path / "profile")
    assert '<div class="name">no common platform</div>' in out.stdout
    assert 'id="held-back"' not in out.stdout


def test_template_escapes_host_names(platforms: PlatformSet) -> None:
    fleet = generated_fleet(platforms, 0, seed=1)
    name, report = fleet[0]
    view = fleet_view([("<b>evil</b>&", report)], platforms)
    html = render_html(report_model(view))
    assert "<b>evil</b>&" not in html and "&lt;b&gt;evil&lt;/b&gt;&amp;" in html


def test_columns_merge_exactly_the_platforms_every_domain_treats_alike(
        big_fleet: tuple[FleetView, list[object]], platforms: PlatformSet) -> None:
    view, _ = big_fleet
    model = report_model(view)
    doms = view.domains()
    flat = [p.name for c in model.columns for p in c.platforms]
    assert flat == [p.name for p in platforms.ordered()]          # every platform once, oldest first
    assert len(model.columns) < len(flat)                          # merged: readable width
    pattern = {p.name: tuple(p.name in d.platforms for d in doms) for p in platforms}
    for c in model.columns:
        assert len({pattern[n] for n in c.names}) == 1
    for a, b in itertools.pairwise(model.columns):
        assert pattern[a.names[-1]] != pattern[b.names[0]]
    # the bottom row counts hosts, not through domains: per host, through its class's support
    per_class = Counter(view.class_index.values())
    support = [c.supported_platforms for c in view.classes]
    for i, c in enumerate(model.columns):
        assert model.column_hosts[i] == sum(n for k, n in per_class.items() if c.names[0] in support[k])

"""``envgrid sites import`` on real PostgreSQL: good rows in, bad rows told by line, reruns idle."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from openpyxl import Workbook

from envgrid_cli.main import main
from envgrid_cloud.registry.census import ImportReport, import_census, read_census, report_lines
from envgrid_cloud.registry.store import upsert_registry
from envgrid_sim.scenarios.luxi import luxi_scenario
from tests.integration.test_api_support import REGISTRY

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "census-luxi.csv"

# Against the API tests' registry: 莒县 › 芦溪镇 (东村 › 一组) and 小店镇; farm1 东村养猪场,
# river1 沭河芦溪段, road2 小店路口.
CENSUS = """\
莒县重点污染源监管清单（2026年）,,,,,,,,,,,
序号,编号,污染源名称,污染源类别,所属乡镇,行政村,村民小组,经度,纬度,污染治理要求,水质目标,下游
1,F-001,西岭鸡场,畜禽养殖场,芦溪镇,东村,,118.91,35.61,鸡粪发酵,,
2,,东村养猪场,养殖场,芦溪镇,东村,一组,118.9,35.6,干清粪，沼气池,,
3,X-003,芦西猪场,畜禽养殖场,芦西镇,,,118.9,35.6,,,
4,F-004,西村牛场,畜禽养殖场,芦溪镇,西村,,118.92,35.62,,,
5,F-005,远方猪场,畜禽养殖场,芦溪镇,东村,,200,35.6,,,
6,F-001,西岭鸡场（重复）,畜禽养殖场,芦溪镇,东村,,118.91,35.61,,,
7,WB-007,沭河小店段,河流,小店镇,,,118.95,35.62,,Ⅲ类,
8,,沭河芦溪段,河流,芦溪镇,,,,,禁止新设排污口,III,沭河小店段
9,WB-009,支流一,河流,芦溪镇,,,,,,,远方猪场
10,WB-010,支流二,河流,芦溪镇,,,,,,,不存在的河
11,普查 0011,小店砖厂,工业企业,小店镇,,,,,,,
12,WB-012,甲河,河流,小店镇,,,,,,,乙河
13,WB-013,乙河,河流,小店镇,,,,,,,甲河
14,F-014,养鱼场一,养鱼场,芦溪镇,,,,,,,
"""
REJECTED = [
    "line 5: unknown township '芦西镇' (known: 小店镇, 芦溪镇)",
    "line 7: longitude 200 is out of range (-180 to 180)",
    "line 8: duplicate of line 3 (same census id)",
    "line 11: downstream site '远方猪场' is on line 7, which was rejected",
    "line 12: downstream site '不存在的河' is neither in this file nor registered",
    "line 14: downstream site '乙河' is on line 15, which was rejected",
    "line 15: downstream links would make water flow in a circle: 乙河 → 甲河 → 乙河",
    "line 16: category '养鱼场' is not one of 畜禽养殖场, 重要水域, 垃圾收运点, 工业企业,"
    " 重要路段, 农田",
]


def seeded(url: str) -> None:
    """The API tests' registry, without readings."""
    with psycopg.connect(url) as conn:
        upsert_registry(conn, REGISTRY)


def run_import(url: str, path: Path, *, dry_run: bool = False) -> ImportReport:
    """The import, as the CLI runs it."""
    with psycopg.connect(url) as conn:
        return import_census(conn, read_census(path), dry_run=dry_run)


def sites(url: str) -> dict[str, tuple[object, ...]]:
    """Every stored site by id: name, cell, census id, target class, water type, treatment."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT id, name, cell_id, census_ref, target_class, water_type,"
            " treatment_requirements, lon FROM sites ORDER BY id"
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


def links(url: str) -> list[tuple[str, str]]:
    """Every downstream link."""
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT * FROM site_downstream ORDER BY 1, 2").fetchall()


def test_good_rows_go_in_bad_rows_are_told_by_line_and_a_rerun_changes_nothing(
    migrated_url: str, tmp_path: Path
) -> None:
    seeded(migrated_url)
    path = tmp_path / "census.csv"
    path.write_text(CENSUS, encoding="utf-8-sig")

    first = run_import(migrated_url, path)
    assert [str(r) for r in first.rejected] == REJECTED
    assert [(o.line, o.site_id) for o in first.imported] == [
        (3, "F-001"),
        (6, "F-004"),
        (9, "WB-007"),
        (13, first.imported[3].site_id),
    ]
    assert first.imported[3].site_id.startswith("site-")  # 普查 0011 is no valid id
    assert [(o.line, o.site_id) for o in first.updated] == [(4, "farm1"), (10, "river1")]
    assert [(line, c.level.value, c.name, c.parent_id) for line, c in first.created_cells] == [
        (6, "village", "西村", "luxi")
    ]
    stored = sites(migrated_url)
    assert stored["farm1"] == (
        "东村养猪场",
        "luxi-v1-g1",
        None,
        None,
        None,
        "干清粪，沼气池",
        118.9,
    )
    assert stored["river1"][3:6] == ("III", "river", "禁止新设排污口")
    assert stored["WB-007"][1:5] == ("xiaodian", "WB-007", "III", "river")
    assert stored["F-004"][1] == first.created_cells[0][1].id
    assert "road2" in stored
    assert links(migrated_url) == [("river1", "WB-007")]
    lines = report_lines(first)
    assert lines[0] == "read 14 rows: imported 4 new, updated 2, unchanged 0, rejected 8"
    assert lines[-len(REJECTED) :] == [f"  {r}" for r in REJECTED]

    again = run_import(migrated_url, path)
    assert [str(r) for r in again.rejected] == REJECTED
    assert (again.imported, again.updated, again.created_cells) == ([], [], [])
    assert len(again.unchanged) == 6
    assert sites(migrated_url) == stored
    assert links(migrated_url) == [("river1", "WB-007")]


def test_a_dry_run_reports_the_same_and_writes_nothing(migrated_url: str, tmp_path: Path) -> None:
    seeded(migrated_url)
    path = tmp_path / "census.csv"
    path.write_text(CENSUS, encoding="gb18030")
    before = sites(migrated_url)
    dry = run_import(migrated_url, path, dry_run=True)
    assert [str(r) for r in dry.rejected] == REJECTED
    assert len(dry.imported) == 4
    assert report_lines(dry)[0] == "dry run: nothing was written; this is what the import would do"
    assert sites(migrated_url) == before
    assert links(migrated_url) == []


def test_an_xlsx_list_imports_and_a_column_it_lacks_is_left_alone(
    migrated_url: str, tmp_path: Path
) -> None:
    seeded(migrated_url)
    with psycopg.connect(migrated_url) as conn:
        conn.execute("UPDATE sites SET production_process = '自繁自养' WHERE id = 'farm1'")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["单位名称", "类别", "乡镇", "村", "治理措施"])
    sheet.append(["东村养猪场", "畜禽养殖场", "芦溪镇", "东村", "雨污分流"])
    path = tmp_path / "清单.xlsx"
    book.save(path)

    report = run_import(migrated_url, path)
    assert report.rejected == []
    assert [o.site_id for o in report.updated] == ["farm1"]
    with psycopg.connect(migrated_url) as conn:
        row = conn.execute(
            "SELECT cell_id, lon, production_process, treatment_requirements FROM sites"
            " WHERE id = 'farm1'"
        ).fetchone()
    # The list names the village; the registry's group, coordinates and process stay.
    assert row == ("luxi-v1-g1", 118.9, "自繁自养", "雨污分流")


def test_the_cli_imports_the_shipped_example_into_the_luxi_scenario(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(migrated_url) as conn:
        upsert_registry(conn, luxi_scenario().registry)
    monkeypatch.setenv("ENVGRID_DATABASE_URL", migrated_url)

    assert main(["sites", "import", str(EXAMPLE), "--dry-run"]) == 0
    assert "dry run: nothing was written" in capsys.readouterr().out
    assert main(["sites", "import", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "read 12 rows: imported 2 new, updated 10, unchanged 0, rejected 0" in out
    assert "created village 新田村" in out
    assert main(["sites", "import", str(EXAMPLE), "--format", "csv"]) == 0
    assert "imported 0 new, updated 0, unchanged 12, rejected 0" in capsys.readouterr().out
    assert links(migrated_url) == [
        ("luxi-river-01", "luxi-river-02"),
        ("luxi-river-02", "luxi-river-04"),
        ("luxi-river-03", "luxi-river-02"),
    ]
    assert sites(migrated_url)["luxi-farm-01"][2] == "91360323MA35DY0001"


def test_the_cli_exit_status_says_what_happened(
    migrated_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seeded(migrated_url)
    monkeypatch.setenv("ENVGRID_DATABASE_URL", migrated_url)
    bad = tmp_path / "census.csv"
    bad.write_text(CENSUS, encoding="utf-8")
    assert main(["sites", "import", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "rejected 8 rows:" in out
    assert "  line 5: unknown township '芦西镇' (known: 小店镇, 芦溪镇)" in out

    unreadable = tmp_path / "notes.csv"
    unreadable.write_text("随便写点什么\n", encoding="utf-8")
    assert main(["sites", "import", str(unreadable)]) == 2
    assert "no header row" in capsys.readouterr().err
    assert main(["sites", "import", str(tmp_path / "missing.csv")]) == 2

    monkeypatch.setenv("ENVGRID_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/none")
    assert main(["sites", "import", str(bad)]) == 2
    assert "cannot reach the database" in capsys.readouterr().err


def test_the_cli_asks_for_a_migration_on_an_empty_database(
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ENVGRID_DATABASE_URL", database_url)
    assert main(["sites", "import", str(EXAMPLE)]) == 2
    assert "has no envgrid schema; run `envgrid db migrate` first" in capsys.readouterr().err

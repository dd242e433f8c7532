"""Reading census lists: encodings, XLSX, header aliases and title rows, every row's reasons."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from openpyxl import Workbook

from envgrid_cloud.registry.census import (
    HEADER_ALIASES,
    CensusFile,
    CensusRow,
    CensusUnreadable,
    Column,
    read_census,
)
from envgrid_cloud.registry.census.places import Grid, PlaceProblem
from envgrid_cloud.registry.census.values import parse_degrees, parse_water_class
from envgrid_common.registry import (
    GridCell,
    GridLevel,
    SiteCategory,
    WaterClass,
    WaterType,
    downstream_cycle,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "census-luxi.csv"
HEADER = "序号,编号,名称,类别,乡镇,村,村民小组,经度,纬度,生产工艺,治理要求,水质目标,下游"
FARM = "1,F-001,东阳猪场,畜禽养殖场,芦溪镇,东阳村,二组,113.99,27.64,干清粪,沼气池处理,,"


def write(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "list.csv") -> Path:
    """``text`` as a file in ``encoding``."""
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def only_row(census: CensusFile) -> CensusRow:
    """The one good row of a list."""
    assert census.rejected == []
    assert len(census.rows) == 1
    return census.rows[0]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "utf-16"])
def test_csv_reads_in_every_encoding_excel_writes(tmp_path: Path, encoding: str) -> None:
    census = read_census(write(tmp_path, f"{HEADER}\r\n{FARM}\r\n", encoding))
    row = only_row(census)
    assert row == CensusRow(
        line=2,
        name="东阳猪场",
        category=SiteCategory.LIVESTOCK_FARM,
        township="芦溪镇",
        village="东阳村",
        group="二组",
        lon=113.99,
        lat=27.64,
        production_process="干清粪",
        treatment_requirements="沼气池处理",
        census_ref="F-001",
    )
    assert census.header_line == 1


def test_a_bom_does_not_hide_the_first_header(tmp_path: Path) -> None:
    path = write(tmp_path, "名称,类别,乡镇\n东阳猪场,养殖场,芦溪镇\n", "utf-8-sig")
    assert path.read_bytes().startswith(codecs.BOM_UTF8)
    assert only_row(read_census(path)).name == "东阳猪场"


def test_tab_separated_text_reads_too(tmp_path: Path) -> None:
    text = "名称\t类别\t乡镇\t经度\t纬度\n东阳猪场\t养殖场\t芦溪镇\t113.99\t27.64\n"
    assert only_row(read_census(write(tmp_path, text, name="list.txt"))).lon == 113.99


def test_title_rows_above_the_header_are_skipped_and_lines_count_from_the_top(
    tmp_path: Path,
) -> None:
    text = (
        "芦溪镇重点污染源监管清单,,,\n"
        "填报单位：芦溪镇人民政府,,,填报日期：2026-03-31\n"
        ",,,\n"
        "序号,污染源名称,污染源类别,所属乡镇\n"
        "1,东阳猪场,畜禽养殖场,芦溪镇\n"
        ",,,\n"
        "2,荷塘河,重要水域,芦溪镇\n"
        "填表说明：类别按普查口径填写,,,\n"
    )
    census = read_census(write(tmp_path, text))
    assert census.header_line == 4
    assert [(r.line, r.name) for r in census.rows] == [(5, "东阳猪场"), (7, "荷塘河")]
    # A note in the 序号 column under the table is not a row.
    assert census.rejected == []


@pytest.mark.parametrize(
    ("column", "alias"),
    [(column, alias) for column, aliases in HEADER_ALIASES.items() for alias in aliases],
)
def test_every_header_alias_names_its_column(tmp_path: Path, column: Column, alias: str) -> None:
    base = {Column.NAME: "名称", Column.CATEGORY: "类别", Column.TOWNSHIP: "乡镇"}
    headers = {**base, column: alias}
    text = ",".join(headers.values()) + "\n" + ",".join("x" for _ in headers) + "\n"
    census = read_census(write(tmp_path, text))
    assert column in census.columns
    assert census.warnings == []


def test_headers_with_units_brackets_and_required_marks_are_recognised(tmp_path: Path) -> None:
    text = (
        "*名称,类别（污染源）,乡镇(街道),村（社区）,经度(°),纬度（度）\n"
        "猪场,养殖场,芦溪镇,东阳村,114,27\n"
    )
    row = only_row(read_census(write(tmp_path, text)))
    assert (row.village, row.lon, row.lat) == ("东阳村", 114.0, 27.0)


def test_unknown_and_repeated_columns_are_reported_once(tmp_path: Path) -> None:
    text = (
        "名称,类别,乡镇,备注,联系人,编号,统一社会信用代码\n"
        "猪场,养殖场,芦溪镇,无,张三,F-1,9136\n"
        "牛场,养殖场,芦溪镇,无,李四,F-2,9137\n"
    )
    census = read_census(write(tmp_path, text))
    assert census.warnings == [
        "columns 7 and 6 both give 编号; column 6 is used",
        "ignored columns: 备注, 联系人",
    ]
    assert [r.census_ref for r in census.rows] == ["F-1", "F-2"]


@pytest.mark.parametrize(
    ("text", "category", "water_type"),
    [
        ("畜禽养殖场", SiteCategory.LIVESTOCK_FARM, None),
        ("养殖场", SiteCategory.LIVESTOCK_FARM, None),
        ("畜禽养殖", SiteCategory.LIVESTOCK_FARM, None),
        ("重要水域", SiteCategory.WATER_BODY, None),
        ("水域", SiteCategory.WATER_BODY, None),
        ("河流", SiteCategory.WATER_BODY, WaterType.RIVER),
        ("河段", SiteCategory.WATER_BODY, WaterType.RIVER),
        ("湖库", SiteCategory.WATER_BODY, WaterType.LAKE),
        ("垃圾收运点", SiteCategory.REFUSE_POINT, None),
        ("垃圾中转站", SiteCategory.REFUSE_POINT, None),
        ("工业企业", SiteCategory.INDUSTRIAL, None),
        ("企业", SiteCategory.INDUSTRIAL, None),
        ("重要路段", SiteCategory.ROAD_SECTION, None),
        ("道路", SiteCategory.ROAD_SECTION, None),
        ("农田", SiteCategory.FARMLAND, None),
        ("livestock_farm", SiteCategory.LIVESTOCK_FARM, None),
        ("Water Body", SiteCategory.WATER_BODY, None),
        ("road-section", SiteCategory.ROAD_SECTION, None),
    ],
)
def test_category_words(
    tmp_path: Path, text: str, category: SiteCategory, water_type: WaterType | None
) -> None:
    row = only_row(read_census(write(tmp_path, f"名称,类别,乡镇\n某地,{text},芦溪镇\n")))
    assert row.category is category
    assert row.water_type is water_type


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("116.12", 116.12),
        ("116.12°", 116.12),
        (" 116.12 ° ", 116.12),
        ("E116.12", 116.12),
        ("116.12E", 116.12),
        ("东经116.12", None),
        ("116°7′12″", 116.12),
        ("116°07'12\"", 116.12),
        ("116度7分12秒", 116.12),
        ("-73.5", -73.5),
        ("73.5W", -73.5),
    ],
)
def test_degrees(text: str, expected: float | None) -> None:
    if expected is None:
        with pytest.raises(ValueError, match="is not a number of degrees"):
            parse_degrees(text, "longitude", 180)
    else:
        assert parse_degrees(text, "longitude", 180) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["Ⅲ类", "III", "iii", "3", "Ⅲ", "III类", "Ⅲ类水", "III类水质"])
def test_water_class_forms(text: str) -> None:
    assert parse_water_class(text) is WaterClass.III


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ("2,,畜禽养殖场,芦溪镇,,113,27,,", "name (名称) is empty"),
        ("2,猪场,,芦溪镇,,113,27,,", "category (类别) is empty"),
        (
            "2,鱼塘,养鱼场,芦溪镇,,113,27,,",
            "category '养鱼场' is not one of 畜禽养殖场, 重要水域, 垃圾收运点, 工业企业,"
            " 重要路段, 农田",
        ),
        ("2,猪场,养殖场,,,113,27,,", "township (乡镇) is empty"),
        ("2,猪场,养殖场,芦溪镇,,200,27,,", "longitude 200 is out of range (-180 to 180)"),
        ("2,猪场,养殖场,芦溪镇,,113,-95.5,,", "latitude -95.5 is out of range (-90 to 90)"),
        (
            "2,猪场,养殖场,芦溪镇,,27.6,114.0,,",
            "latitude 114 is out of range (-90 to 90); longitude and latitude may be swapped",
        ),
        ("2,猪场,养殖场,芦溪镇,,东边,27,,", "longitude '东边' is not a number of degrees"),
        ("2,猪场,养殖场,芦溪镇,,113,,,", "latitude is missing (longitude is given)"),
        ("2,猪场,养殖场,芦溪镇,,,27,,", "longitude is missing (latitude is given)"),
        ("2,河,河流,芦溪镇,,113,27,Ⅵ类,", "water class 'Ⅵ类' is not one of Ⅰ, Ⅱ, Ⅲ, Ⅳ, Ⅴ类"),
        (
            "2,猪场,养殖场,芦溪镇,,113,27,Ⅲ类,",
            "水质目标/水体类型 is given, but only a water body has one (this is a 养殖场)",
        ),
        (f"2,{'猪' * 201},养殖场,芦溪镇,,113,27,,", "name is longer than 200 characters"),
        (
            "2,,养鱼场,,,,,,",
            "name (名称) is empty; township (乡镇) is empty; category '养鱼场' is not one of",
        ),
    ],
)
def test_every_bad_row_is_rejected_with_its_line_and_reason(
    tmp_path: Path, cells: str, reason: str
) -> None:
    text = f"序号,名称,类别,乡镇,村,经度,纬度,水质目标,下游\n1,好场,养殖场,芦溪镇,,,,,\n{cells}\n"
    census = read_census(write(tmp_path, text))
    assert [r.line for r in census.rows] == [2]
    assert len(census.rejected) == 1
    rejected = census.rejected[0]
    assert rejected.line == 3
    assert rejected.reason.startswith(reason)
    assert str(rejected).startswith(f"line 3: {reason}")


def test_downstream_lists_split_on_chinese_and_latin_separators(tmp_path: Path) -> None:
    text = "名称,类别,乡镇,下游\n上游河段,河流,芦溪镇,SZ-1、镇区断面；SZ-3 , SZ-1\n"
    assert only_row(read_census(write(tmp_path, text))).downstream == ("SZ-1", "镇区断面", "SZ-3")


def test_xlsx_rows_keep_their_excel_row_numbers(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "清单"
    sheet.append(["芦溪镇重点污染源监管清单"])
    sheet.merge_cells("A1:F1")
    sheet.append([])
    sheet.append(["序号", "统一社会信用代码", "单位名称", "行业类别", "所属乡镇", "经度", "纬度"])
    # A code typed as a number comes back as a number: 3603230001, or 3603230002.0.
    sheet.append([1, 3603230001, "东阳猪场", "畜禽养殖场", "芦溪镇", 113.99, 27.64])
    sheet.append([])
    sheet.append([2, 3603230002.0, "荷塘河", "湖库", "芦溪镇", "114.01°", "27.65°"])
    sheet.append([3, "X-3", "坏行", "养鱼场", "芦溪镇", 114, 27])
    book.create_sheet("说明").append(["填表说明"])
    book.create_sheet("空白")
    path = tmp_path / "清单.xlsx"
    book.save(path)

    census = read_census(path)
    assert census.header_line == 3
    assert [(r.line, r.name, r.census_ref) for r in census.rows] == [
        (4, "东阳猪场", "3603230001"),
        (6, "荷塘河", "3603230002"),
    ]
    assert census.rows[1].lon == 114.01
    assert census.rows[1].water_type is WaterType.LAKE
    assert [(r.line, r.reason.split(" is ")[0]) for r in census.rejected] == [
        (7, "category '养鱼场'")
    ]
    assert census.warnings == ["read sheet '清单'; other sheets were not read: 说明"]


def test_xlsx_is_recognised_without_its_suffix(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["名称", "类别", "乡镇"])
    sheet.append(["猪场", "养殖场", "芦溪镇"])
    book.save(tmp_path / "list.xlsx")
    (tmp_path / "list.xlsx").rename(tmp_path / "list.dat")
    assert only_row(read_census(tmp_path / "list.dat")).name == "猪场"
    (tmp_path / "list.dat").rename(tmp_path / "list.csv")
    assert only_row(read_census(tmp_path / "list.csv", "xlsx")).name == "猪场"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("list.csv", "a,b,c\n1,2,3\n", "no header row in the first 20 lines; expected 名称"),
        ("list.csv", "名称,乡镇\n猪场,芦溪镇\n", "the header (line 1) has no 类别 column"),
        ("list.csv", "名称,编号\n猪场,1\n", "has no 类别 or 乡镇 column"),
        ("list.csv", "", "no header row"),
        ("list.xls", "名称,类别,乡镇\n", "Excel 97–2003 workbook; save it as .xlsx or CSV"),
        ("list.xlsx", "名称,类别,乡镇\n", "list.xlsx is not a readable XLSX workbook"),
    ],
)
def test_a_file_that_is_not_a_census_list_is_unreadable(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    with pytest.raises(CensusUnreadable, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_census(write(tmp_path, content, name=name))


def test_bytes_that_are_no_text_are_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(b"\x81\x30\xff\xfe\x00" * 10)
    with pytest.raises(CensusUnreadable):
        read_census(path)
    with pytest.raises(CensusUnreadable, match="cannot read"):
        read_census(tmp_path / "missing.csv")


def test_the_shipped_example_reads_without_a_rejected_row() -> None:
    census = read_census(EXAMPLE)
    assert census.rejected == []
    assert census.header_line == 3
    assert len(census.rows) == 12
    assert {r.township for r in census.rows} == {"芦溪镇"}
    assert census.warnings == ["ignored columns: 备注"]


GRID = Grid(
    {
        c.id: c
        for c in (
            GridCell(id="ju", level=GridLevel.COUNTY, name="芦溪县"),
            GridCell(id="luxi", level=GridLevel.TOWNSHIP, name="芦溪镇", parent_id="ju"),
            GridCell(id="xd", level=GridLevel.TOWNSHIP, name="小店乡", parent_id="ju"),
            GridCell(id="dy", level=GridLevel.VILLAGE, name="东阳村", parent_id="luxi"),
            GridCell(id="dy-g2", level=GridLevel.GROUP, name="东阳村二组", parent_id="dy"),
        )
    }
)


def test_places_are_found_by_name_and_missing_villages_planned() -> None:
    grid = Grid(dict(GRID.cells))
    assert grid.place("芦溪镇", None, None).id == "luxi"
    assert grid.place("小店", None, None).id == "xd"
    assert grid.place("芦溪镇", "东阳村", "二组").id == "dy-g2"
    assert grid.place("芦溪镇", "东阳村", "东阳村二组").id == "dy-g2"
    new = grid.place("芦溪镇", "新田村", "一组")
    assert new.level is GridLevel.GROUP
    assert [c.name for c in grid.needs(new.id)] == ["新田村", "一组"]
    # Planned ids are stable: the same names plan the same cells.
    again = Grid(dict(GRID.cells))
    assert again.place("芦溪镇", "新田村", "一组").id == new.id
    assert grid.township_of(new.id) == "luxi"
    with pytest.raises(PlaceProblem, match="unknown township '芦西镇' \\(known: 小店乡, 芦溪镇\\)"):
        grid.place("芦西镇", None, None)
    with pytest.raises(PlaceProblem, match="villager group '一组' is given without its village"):
        grid.place("芦溪镇", None, "一组")


def test_a_circle_of_downstream_links_is_found_from_where_it_starts() -> None:
    assert downstream_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert downstream_cycle({"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}) is None
    assert downstream_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert downstream_cycle({"x": ["a"], "a": ["b"], "b": ["a"]}) == ["a", "b", "a"]

"""Camera node files: the shipped examples load, mistakes are named, the command parses."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
import yaml

from envgrid_edge.camera import cli as camera_cli
from envgrid_edge.camera.config import (
    ConfigError,
    DeviceSource,
    FileSource,
    FolderSource,
    StreamSource,
    load_camera_config,
    parse_camera_config,
)
from envgrid_edge.cli import EXAMPLES, main


def camera(**extra: Any) -> dict[str, Any]:
    return {
        "node_id": "cam-1",
        "source": {"type": "stream", "url": "http://10.0.0.9/video.mjpg"},
        **extra,
    }


def problems(data: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_camera_config(data)
    return str(caught.value)


def test_the_shipped_http_camera_loads_with_its_masks() -> None:
    config = load_camera_config(EXAMPLES / "camera-http-mjpeg.yaml")
    assert config.kind == "camera"
    assert isinstance(config.source, StreamSource)
    assert config.source.url.startswith("http://")
    assert [p.name for p in config.masks.ignore] == ["sky", "county road", "brickworks chimney"]
    assert config.masks.units == "fraction"
    assert config.analysis.rate_fps == 5
    assert config.snapshot.max_bytes == 300 * 1024


def test_the_shipped_video_file_example_takes_its_paths_from_its_folder() -> None:
    config = load_camera_config(EXAMPLES / "camera-video-file.yaml")
    assert isinstance(config.source, FileSource)
    assert config.source.path == EXAMPLES.resolve() / "clips" / "field-burn.mp4"
    assert config.outbox_path == EXAMPLES.resolve() / "replay.sqlite"
    assert config.masks.units == "px"


def test_defaults_fill_what_the_file_leaves_out() -> None:
    config = parse_camera_config(camera())
    assert (config.analysis.rate_fps, config.analysis.width, config.analysis.height) == (
        5.0,
        640,
        None,
    )
    assert config.masks.ignore == []
    assert config.detector == {}
    assert config.topics.detections("cam-1").endswith("/v1/nodes/cam-1/detections")


def test_detector_settings_pass_through_as_they_are() -> None:
    config = parse_camera_config(camera(detector={"m": 5, "n": 8}))
    assert config.detector == {"m": 5, "n": 8}


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"node_id": "cam-1"}, "source"),
        (camera(source={"type": "stream", "url": "ftp://x/y"}), "rtsp://"),
        (camera(source={"type": "webcam"}), "source"),
        (camera(source={"type": "stream", "url": "rtsp://x/", "reconnect_max_s": 0.5}), "below"),
        (camera(analysis={"rate_fps": 0}), "analysis.rate_fps"),
        (camera(masks={"ignore": [{"name": "sky", "points": [[0, 0], [1.5, 0], [1, 1]]}]}), "sky"),
        (camera(masks={"ignore": [{"points": [[0, 0], [1, 0]]}]}), "points"),
        (camera(snapshot={"max_kb": 100_000}), "snapshot.max_kb"),
        (camera(kind="sensor"), "kind"),
        (camera(colour="red"), "colour"),
        (camera(detector={"m": 0}), "detector: m"),
        (camera(detector={"night": True}), "detector: night"),
    ],
)
def test_mistakes_are_named(data: dict[str, Any], named: str) -> None:
    assert named in problems(data)


def test_pixel_masks_may_go_past_one() -> None:
    masks = {"units": "px", "ignore": [{"points": [[0, 0], [1280, 0], [1280, 200]]}]}
    assert parse_camera_config(camera(masks=masks)).masks.ignore[0].points[1] == (1280, 0)


def test_folder_and_device_sources(tmp_path: Path) -> None:
    folder = parse_camera_config(
        camera(source={"type": "folder", "path": "stills", "rate_fps": 2}), base_dir=tmp_path
    )
    assert isinstance(folder.source, FolderSource)
    assert folder.source.path == tmp_path / "stills"
    for given, device in ((0, 0), ("1", 1), ("/dev/video2", "/dev/video2")):
        config = parse_camera_config(camera(source={"type": "device", "device": given}))
        assert isinstance(config.source, DeviceSource)
        assert config.source.device == device


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    file = tmp_path / "cam.yaml"
    file.write_text(yaml.safe_dump(data))
    return file


def test_check_prints_the_node_and_command_line_options_win(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write(tmp_path, camera(mqtt_url="mqtt://10.0.0.1:1883"))
    status = main(
        ["camera", "--config", str(file), "--check", "--mqtt-url", "mqtt://127.0.0.1:1884"]
    )
    out = capsys.readouterr().out
    assert status == 0
    assert "node cam-1 (camera)" in out
    assert "mqtt://127.0.0.1:1884" in out


def test_running_needs_a_config_and_a_bad_one_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["camera"]) == 2
    assert "--config" in capsys.readouterr().err
    bad = write(tmp_path, {"node_id": "cam-1"})
    assert main(["camera", "--config", str(bad)]) == 2
    assert "source" in capsys.readouterr().err


def test_a_command_sits_beside_the_running_form(monkeypatch: pytest.MonkeyPatch) -> None:
    """``camera eval DIR`` (added by its registrar) and ``camera --config FILE`` both parse."""

    def add_eval(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        parser = commands.add_parser("eval")
        parser.add_argument("folder", type=Path)
        parser.set_defaults(handler=lambda args: 0, evaluated=True)

    monkeypatch.setattr(camera_cli, "CAMERA_COMMANDS", [add_eval])
    parser = argparse.ArgumentParser()
    camera_cli.add_camera(parser.add_subparsers(dest="agent"))
    evaluate = parser.parse_args(["camera", "eval", "labelled"])
    assert evaluate.folder == Path("labelled")
    assert evaluate.evaluated
    assert evaluate.handler is not camera_cli.run
    running = parser.parse_args(["camera", "--config", "cam.yaml"])
    assert running.handler is camera_cli.run
    assert running.camera_command is None
    assert running.config == Path("cam.yaml")

"""Camera sources: video files, image folders, MJPEG over HTTP that drops and comes back."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from envgrid_edge.camera.config import DeviceSource, FileSource, FolderSource, StreamSource
from envgrid_edge.camera.events import Frame
from envgrid_edge.camera.sources import (
    DeviceCapture,
    FrameSource,
    ImageFolder,
    SourceError,
    SourceState,
    StreamCapture,
    VideoFile,
    open_source,
    redacted,
)
from tests.camera_fakes import shade, write_folder, write_video
from tests.mjpeg_server import MjpegServer
from tests.polling import wait_until


def everything(at: float) -> bool:
    return True


def collect(source: FrameSource, want: object = everything) -> list[tuple[Frame, float]]:
    return list(source.frames(threading.Event(), want))  # type: ignore[arg-type]


def video(path: Path, **options: object) -> VideoFile:
    return VideoFile(FileSource.model_validate({"type": "file", "path": path, **options}))


def folder(path: Path, **options: object) -> ImageFolder:
    return ImageFolder(FolderSource.model_validate({"type": "folder", "path": path, **options}))


def test_a_video_file_gives_its_frames_timed_by_position(tmp_path: Path) -> None:
    source = video(write_video(tmp_path / "clip.avi", 12, fps=10), realtime=False)
    frames = collect(source)
    assert [round(at, 3) for _, at in frames] == [round(i / 10, 3) for i in range(12)]
    assert [shade(frame) // 10 for frame, _ in frames] == list(range(12))
    assert frames[0][0].shape == (64, 96, 3)
    assert source.state is SourceState.ENDED


def test_only_wanted_frames_are_decoded(tmp_path: Path) -> None:
    source = video(write_video(tmp_path / "clip.avi", 12, fps=10), realtime=False)
    frames = collect(source, lambda at: round(at * 10) % 4 == 0)
    assert [shade(frame) // 10 for frame, _ in frames] == [0, 4, 8]
    assert (source.counters.grabbed, source.counters.decoded) == (12, 3)


def test_a_looping_video_keeps_its_clock_going(tmp_path: Path) -> None:
    source = video(write_video(tmp_path / "clip.avi", 5, fps=10), realtime=False, loop=True)
    stop = threading.Event()
    got: list[float] = []
    for _, at in source.frames(stop, everything):
        got.append(at)
        if len(got) == 12:
            stop.set()
    assert [round(at, 3) for at in got] == [round(i / 10, 3) for i in range(12)]


def test_a_missing_or_empty_video_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot read"):
        collect(video(tmp_path / "missing.avi"))
    (tmp_path / "empty.avi").write_bytes(b"")
    with pytest.raises(SourceError):
        collect(video(tmp_path / "empty.avi"))


def test_an_image_folder_plays_its_stills_in_name_order_at_its_rate(tmp_path: Path) -> None:
    stills = write_folder(tmp_path / "stills", 6)
    (stills / "notes.txt").write_text("not an image")
    frames = collect(folder(stills, rate_fps=2, realtime=False))
    assert [shade(frame) // 10 for frame, _ in frames] == list(range(6))
    assert [at for _, at in frames] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]


def test_a_folder_skips_an_unreadable_image_and_can_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stills = write_folder(tmp_path / "stills", 3)
    (stills / "still-0001.png").write_bytes(b"broken")
    source = folder(stills, rate_fps=10, realtime=False, loop=True)
    stop = threading.Event()
    shades: list[int] = []
    for frame, _ in source.frames(stop, everything):
        shades.append(shade(frame) // 10)
        if len(shades) == 4:
            stop.set()
    assert shades == [0, 2, 0, 2]
    assert "cannot be read" in caplog.text


def test_an_empty_or_missing_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="has no"):
        collect(folder(tmp_path / "empty"))
    with pytest.raises(SourceError, match="does not exist"):
        collect(folder(tmp_path / "nowhere"))


def test_realtime_playback_ends_at_once_when_stopped(tmp_path: Path) -> None:
    stills = write_folder(tmp_path / "stills", 3)
    source = folder(stills, rate_fps=0.01)  # one still every 100 s
    stop = threading.Event()
    frames = source.frames(stop, everything)
    assert next(frames)[1] == 0.0
    stop.set()
    assert list(frames) == [], "the wait for the next still is cut short"


class Reader:
    """A source iterated in a thread, as the agent does."""

    def __init__(self, source: FrameSource) -> None:
        self.source = source
        self.stop = threading.Event()
        self.frames: list[tuple[int, float]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for frame, at in self.source.frames(self.stop, everything):
            self.frames.append((shade(frame), at))

    def __enter__(self) -> Reader:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(15)
        assert not self.thread.is_alive(), "the source did not stop"


@pytest.fixture
def camera() -> Iterator[MjpegServer]:
    server = MjpegServer(fps=25).start()
    yield server
    server.stop()


def stream(url: str) -> StreamCapture:
    return StreamCapture(
        StreamSource(
            type="stream",
            url=url,
            reconnect_min_s=0.1,
            reconnect_max_s=0.4,
            open_timeout_s=2,
            read_timeout_s=2,
        )
    )


def test_mjpeg_over_http_is_read_as_it_comes(camera: MjpegServer) -> None:
    with Reader(stream(camera.url)) as reader:
        wait_until(lambda: len(reader.frames) >= 10, 15, "frames over HTTP")
    times = [at for _, at in reader.frames]
    assert times == sorted(times), "live frames are timed on the monotonic clock"
    assert reader.source.state in {SourceState.LIVE, SourceState.ENDED}
    assert reader.source.counters.outages == 0


def test_a_dropped_stream_is_reported_once_and_reconnected(
    camera: MjpegServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "envgrid.edge.camera.source")
    with Reader(stream(camera.url)) as reader:
        wait_until(lambda: len(reader.frames) >= 5, 15, "frames before the drop")
        camera.stop()
        wait_until(lambda: reader.source.state is SourceState.DOWN, 15, "the drop noticed")
        before = len(reader.frames)
        connections = camera.connections
        threading.Event().wait(1.5)  # several reconnection attempts fail meanwhile
        camera.start()
        wait_until(lambda: len(reader.frames) >= before + 5, 20, "frames after the camera is back")
        assert reader.source.state is SourceState.LIVE
    assert reader.source.counters.outages == 1
    assert camera.connections == connections + 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "down" in warnings[0].getMessage()
    assert any("back after" in r.getMessage() for r in caplog.records)


def test_a_stream_that_never_answers_is_retried_until_stopped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = MjpegServer().start()
    url = server.url
    server.stop()  # nothing listens on that port now
    source = stream(url)
    with Reader(source):
        wait_until(lambda: source.state is SourceState.DOWN, 15, "the source marked down")
        threading.Event().wait(1.0)
    assert source.counters.outages == 1
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 1


def test_a_missing_device_is_down_not_fatal() -> None:
    source = DeviceCapture(
        DeviceSource(type="device", device="/dev/video-envgrid-none", reconnect_min_s=0.1)
    )
    with Reader(source):
        wait_until(lambda: source.state is SourceState.DOWN, 15, "the device marked down")
    assert source.counters.grabbed == 0


def test_sources_are_chosen_by_type_and_passwords_stay_out_of_logs(tmp_path: Path) -> None:
    made = open_source(StreamSource(type="stream", url="rtsp://viewer:secret@10.0.0.9:554/s2"))
    assert made.live
    assert made.name == "rtsp://viewer:***@10.0.0.9:554/s2"
    assert redacted("http://10.0.0.9/video.mjpg") == "http://10.0.0.9/video.mjpg"
    assert not open_source(FolderSource(type="folder", path=tmp_path)).live

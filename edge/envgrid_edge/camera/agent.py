"""The camera agent: frames from a source, judged by a detector, incidents out through the outbox.

Three threads, none of them an event loop: a *reader* grabs frames (OpenCV blocks), an
*analyser* resizes the frames due at the analysis rate, runs the detector and stores what it
reports in the outbox, and the caller's thread logs health until told to stop. A live source's
reader never waits for the analyser (a frame not yet taken is replaced by the newest, and
counted as dropped); a file or folder waits, so no frame of it is skipped unplanned.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from envgrid_common.clock import WallClock as Clock
from envgrid_common.messages import DetectionPhase
from envgrid_edge.camera.analysis import Sampler, analysis_size, resize
from envgrid_edge.camera.config import CameraConfig
from envgrid_edge.camera.events import CameraEvent, Frame, FrameDetector
from envgrid_edge.camera.factory import DetectorFactory
from envgrid_edge.camera.handoff import FrameSlot, Grabbed
from envgrid_edge.camera.masks import build_mask, looked_at
from envgrid_edge.camera.publish import IncidentPublisher
from envgrid_edge.camera.sources import FrameSource, SourceError
from envgrid_edge.link import NodeLink

log = logging.getLogger("envgrid.edge.camera")

STOP_TIMEOUT_S = 3.0  # for the outbox to empty when stopping
JOIN_S = 2.0  # for the reader and the analyser to finish their frame
FIRST_CONNECT_WAIT_S = 5.0
_TAKE_S = 0.2
_ERROR_LOG_EVERY_S = 60.0


class Outcome(StrEnum):
    """Why :meth:`CameraAgent.run` returned."""

    STOPPED = "stopped"  # told to
    ENDED = "ended"  # a file or folder ran out
    FAILED = "failed"  # no detector, or a source that cannot give frames


@dataclass(slots=True)
class CameraCounters:
    """What the agent has done since it started (besides its source's own counters)."""

    analysed: int = 0
    detector_errors: int = 0


class CameraAgent:
    """One camera node: a source, a detector made by ``make_detector``, a link to the broker."""

    def __init__(
        self,
        config: CameraConfig,
        source: FrameSource,
        make_detector: DetectorFactory,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.source = source
        self._make_detector = make_detector
        self.counters = CameraCounters()
        self._halt = threading.Event()
        self._slot = FrameSlot(drop=source.live)
        self._detector: FrameDetector | None = None
        self._size: tuple[int, int] | None = None
        self._source_size: tuple[int, int] | None = None
        self._last_at: float | None = None
        self._failure: str | None = None
        self._errors_logged_at = -_ERROR_LOG_EVERY_S
        self._rates_at = (time.monotonic(), 0, 0)
        self.link = NodeLink(config, "camera", clock=clock)
        self.outbox = self.link.outbox
        self.publisher = IncidentPublisher(config, self.link)

    # -- life ----------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> Outcome:
        """Read, analyse and publish until ``stop`` is set or the source ends; then say offline."""
        self.link.start()
        log.info(
            "camera %s: source %s, analysing %g frames/s at %d px wide, next seq %d, "
            "%d messages in the outbox %s",
            self.config.node_id,
            self.source.name,
            self.config.analysis.rate_fps,
            self.config.analysis.width,
            self.link.next_seq,
            len(self.outbox),
            self.outbox.path,
        )
        # An incident seen before the first connection would go out as historical: give the
        # connection a moment (a broker that is down costs the first seconds of frames at most).
        give_up = time.monotonic() + FIRST_CONNECT_WAIT_S
        while time.monotonic() < give_up and not stop.is_set():
            if self.link.sender.wait_connected(0.05):
                break
        reader = threading.Thread(target=self._read, name="camera-reader", daemon=True)
        analyser = threading.Thread(target=self._analyse, name="camera-analyser", daemon=True)
        try:
            reader.start()
            analyser.start()
            interval = self.config.progress_interval_s
            next_health = time.monotonic() + interval
            while analyser.is_alive() and not stop.wait(min(0.1, interval)):
                if time.monotonic() >= next_health:
                    next_health += interval
                    self.log_health()
        finally:
            self._halt.set()
            analyser.join(JOIN_S + STOP_TIMEOUT_S)
            # A reader stuck in a stream's read gives up at its read timeout; it is a daemon.
            reader.join(JOIN_S)
            try:
                self.link.say_offline_and_stop(STOP_TIMEOUT_S)
                self.log_health()
            finally:
                self.link.close()
        if self._failure is not None:
            return Outcome.FAILED
        return Outcome.STOPPED if stop.is_set() else Outcome.ENDED

    def _fail(self, why: str) -> None:
        self._failure = why
        log.error("camera %s: %s", self.config.node_id, why)
        self._halt.set()

    # -- the reader ----------------------------------------------------------------------------

    def _read(self) -> None:
        sampler = Sampler(self.config.analysis.rate_fps)
        try:
            for frame, at in self.source.frames(self._halt, sampler.want):
                if not self._slot.put(Grabbed(frame, at, self.link.now()), self._halt):
                    break
            if not self._halt.is_set():
                log.info("camera %s: source %s ended", self.config.node_id, self.source.name)
        except SourceError as error:
            self._fail(str(error))
        except Exception:
            log.exception("camera %s: the source failed", self.config.node_id)
            self._fail("the source failed")
        finally:
            self._slot.end()

    # -- the analyser --------------------------------------------------------------------------

    def _analyse(self) -> None:
        try:
            while not (self._slot.ended or (self._halt.is_set() and self._failure)):
                item = self._slot.take(_TAKE_S)
                if item is not None:
                    self.analyse(item.frame, item.at, item.wall)
                elif self._halt.is_set():
                    break
        finally:
            self.finish()

    def analyse(self, frame: Frame, at: float, wall: datetime) -> list[CameraEvent]:
        """Judge one frame taken at ``at`` (``wall`` on the wall clock); publish what it caused."""
        detector = self._detector or self._start_detector(frame)
        if detector is None:
            return []
        height, width = frame.shape[:2]
        if (width, height) != self._source_size:
            log.warning(
                "camera %s: frames are now %dx%d (were %s); analysed at the same size",
                self.config.node_id,
                width,
                height,
                self._source_size,
            )
            self._source_size = (width, height)
        assert self._size is not None
        small = resize(frame, self._size)
        self.publisher.clock.mark(at, wall)
        self._last_at = at
        self.counters.analysed += 1
        try:
            events = detector.process(small, at)
        except Exception:
            self._detector_failed()
            return []
        self.publisher.publish(events)
        return events

    def _start_detector(self, frame: Frame) -> FrameDetector | None:
        height, width = frame.shape[:2]
        self._source_size = (width, height)
        self._size = analysis_size(self.config.analysis, (width, height))
        mask = build_mask(self.config.masks, (width, height), self._size)
        try:
            self._detector = self._make_detector(self.config, mask)
        except Exception as error:
            self._fail(f"no detector: {error}")
            return None
        log.info(
            "camera %s: frames %dx%d analysed at %dx%d, %.0f%% of the view looked at",
            self.config.node_id,
            width,
            height,
            *self._size,
            100 * looked_at(mask),
        )
        return self._detector

    def finish(self) -> list[CameraEvent]:
        """End the detector's open incidents (the source ended or the agent stops)."""
        detector, self._detector = self._detector, None
        if detector is None or self._last_at is None:
            return []
        try:
            events = detector.finish(self._last_at)
        except Exception:
            self._detector_failed()
            return []
        self.publisher.publish(events)
        return events

    def _detector_failed(self) -> None:
        self.counters.detector_errors += 1
        now = time.monotonic()
        if now - self._errors_logged_at >= _ERROR_LOG_EVERY_S:
            self._errors_logged_at = now
            log.exception(
                "camera %s: the detector failed (%d times so far); frame skipped",
                self.config.node_id,
                self.counters.detector_errors,
            )

    # -- health --------------------------------------------------------------------------------

    def log_health(self) -> None:
        """One line: the source's state, frames read and analysed per second, events, the link."""
        now = time.monotonic()
        grabbed, analysed = self.source.counters.grabbed, self.counters.analysed
        then, grabbed_then, analysed_then = self._rates_at
        self._rates_at = (now, grabbed, analysed)
        span = max(now - then, 1e-6)
        events = self.publisher.events
        log.info(
            "camera %s: source %s (%d outages), read %.1f frames/s, analysed %.1f/s, "
            "%d dropped, %d detector errors; events %d new, %d update, %d end; %s",
            self.config.node_id,
            self.source.state,
            self.source.counters.outages,
            (grabbed - grabbed_then) / span,
            (analysed - analysed_then) / span,
            self._slot.dropped,
            self.counters.detector_errors,
            events[DetectionPhase.NEW],
            events[DetectionPhase.UPDATE],
            events[DetectionPhase.END],
            self.link.describe(),
        )

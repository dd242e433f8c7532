"""``envgrid sim clips DIR``: write the synthetic clips as video files with a manifest."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from envgrid_sim.clips.catalog import CLIPS, render
from envgrid_sim.clips.clip import Clip
from envgrid_sim.clips.video import write_clip

MANIFEST = "manifest.json"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sim clips``."""
    parser = commands.add_parser(
        "clips",
        help="write the synthetic camera clips as video files",
        description=(
            "Render synthetic camera clips of a field (straw burns: smoke and flames, day, dusk "
            "and infrared night; look-alikes: clouds, shadows, headlights, a red lorry, fog, "
            "tractor dust, a sunset) as MJPG .avi files in DIR, with manifest.json giving each "
            "clip's file, size, rate and when its fire starts and is put out. Same seed, same "
            "frames."
        ),
    )
    parser.add_argument("dir", type=Path, nargs="?", metavar="DIR", help="folder to write into")
    parser.add_argument(
        "--names",
        nargs="+",
        metavar="NAME",
        help=f"clips to write (default: all): {', '.join(CLIPS)}",
    )
    parser.add_argument("--size", default="640x480", metavar="WxH", help="frame size (640x480)")
    parser.add_argument("--fps", type=float, default=10.0, metavar="N", help="frame rate (10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the clips (0)")
    parser.add_argument("--list", action="store_true", help="list the clips and exit")
    parser.set_defaults(handler=run)


def parse_size(text: str) -> tuple[int, int]:
    """``640x480`` → (640, 480)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size {text!r}: expected WIDTHxHEIGHT, e.g. 640x480") from None
    return width, height


def manifest_entry(clip: Clip, file: str) -> dict[str, object]:
    """What a test or an evaluation needs to know about one written clip."""
    return {
        "name": clip.name,
        "file": file,
        "description": clip.spec.description,
        "lighting": clip.spec.lighting,
        "night_ir": clip.night_ir,
        "burn": clip.spec.burn,
        "ignition_s": clip.ignition_s,
        "extinguished_s": clip.extinguished_s,
        "duration_s": clip.duration_s,
        "fps": clip.fps,
        "frames": clip.frame_count,
        "width": clip.size[0],
        "height": clip.size[1],
        "seed": clip.seed,
    }


def run(args: argparse.Namespace) -> int:
    """Write the clips: 0 when all are written, 2 for bad options."""
    if args.list:
        for name, spec in CLIPS.items():
            timing = f"fire {spec.ignition_s:g}–{spec.extinguished_s:g} s" if spec.burn else ""
            print(f"{name:26} {spec.duration_s:4g} s  {spec.description} {timing}".rstrip())
        return 0
    if args.dir is None:
        print("envgrid sim clips: DIR is needed (or --list)", file=sys.stderr)
        return 2
    names = args.names or list(CLIPS)
    unknown = [name for name in names if name not in CLIPS]
    try:
        size = parse_size(args.size)
        if unknown:
            raise ValueError(f"no clip {', '.join(unknown)}; choose from {', '.join(CLIPS)}")
        if args.fps <= 0:
            raise ValueError("--fps must be positive")
        clips = [render(name, seed=args.seed, size=size, fps=args.fps) for name in names]
    except ValueError as error:
        print(f"envgrid sim clips: {error}", file=sys.stderr)
        return 2
    folder: Path = args.dir
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for number, clip in enumerate(clips, start=1):
        started = time.monotonic()
        file = f"{clip.name}.avi"
        prefix = f"[{number}/{len(clips)}] {clip.name}"

        def progress(done: int, total: int, prefix: str = prefix) -> None:
            if done == total or done % max(1, total // 4) == 0:
                print(f"{prefix}: {done}/{total} frames", flush=True)

        write_clip(clip, folder / file, progress=progress)
        entries.append(manifest_entry(clip, file))
        print(f"{prefix}: written to {folder / file} in {time.monotonic() - started:.1f} s")
        # Keep the manifest whole after every clip, so an interrupted run leaves a usable one.
        manifest = {"seed": args.seed, "clips": entries}
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"{len(entries)} clips and {MANIFEST} in {folder}")
    return 0

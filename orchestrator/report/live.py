"""A view redrawn in place (`sparkctl top`): each frame is a list of titled tables."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable

from orchestrator.report import render

Frame = list[tuple[str, list[str], list[list[str]]]]
HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"
CLEAR_DOWN = "\x1b[J"


def show_live(frames: Iterable[Frame], stream=None) -> None:
    """Redraw each frame over the last until the frames end; the last one stays on screen. Not on a terminal
    (a pipe, a file) only the last frame is printed, once, when the frames end."""
    stream = stream or sys.stdout
    terminal = stream.isatty()
    drawn, last = 0, None
    try:
        if terminal:
            stream.write(HIDE_CURSOR)
        for frame in frames:
            last = frame
            if terminal:
                lines = frame_lines(frame, shutil.get_terminal_size((80, 24)))
                stream.write(redraw(drawn, lines))
                stream.flush()
                drawn = len(lines)
    finally:
        if terminal:
            stream.write(SHOW_CURSOR)
        elif last is not None:
            stream.write("".join(f"{line}\n" for line in frame_lines(last, None)))
        stream.flush()


def frame_lines(frame: Frame, size: os.terminal_size | None) -> list[str]:
    """The frame's tables, one after the other; on a terminal cut to its size (a line to its width, the frame
    to one line less than its height), so nothing wraps or scrolls and the lines drawn are the lines to go back over."""
    lines = [line for title, headers, rows in frame
             for line in render.table(title, headers, rows, [False] * len(headers), None)]
    if size is None:
        return lines
    return [render.crop(line, size.columns) for line in lines[:max(size.lines - 1, 1)]]


def redraw(drawn: int, lines: list[str]) -> str:
    """What moves the cursor back over the drawn lines, clears them, and draws the new ones."""
    back = f"\x1b[{drawn}A" if drawn else ""
    return f"\r{back}{CLEAR_DOWN}" + "".join(f"{line}\n" for line in lines)

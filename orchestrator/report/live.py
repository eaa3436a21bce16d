"""A view redrawn in place (`sparkctl top`): each frame is a list of titled tables."""

from __future__ import annotations

from collections.abc import Iterable

Frame = list[tuple[str, list[str], list[list[str]]]]


def show_live(frames: Iterable[Frame]) -> None:
    """Redraw each frame over the last until the frames end; the last one stays on screen."""
    from rich.console import Console, Group
    from rich.live import Live

    with Live(console=Console(), auto_refresh=False) as view:
        for frame in frames:
            view.update(Group(*(_table(title, headers, rows) for title, headers, rows in frame)), refresh=True)


def _table(title: str, headers: list[str], rows: list[list[str]]):
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for header in headers:
        table.add_column(header, no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return table

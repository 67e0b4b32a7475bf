"""Progress bars (rich, the library typer renders with), and quieting the bars of the libraries we call."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

T = TypeVar("T")


def _console() -> Console:
    return Console(stderr=True)


def track(
    items: Iterable[T], total: int, *, description: str, show: bool = True, sizes: Iterable[int] | None = None
) -> Iterator[T]:
    """Yield ``items`` while drawing a progress bar on stderr (nothing when ``show`` is false).

    The bar counts what the user knows (pairs, files, parents), never internal chunks: ``total`` is that
    number, and when each item is the result of a chunk of them, ``sizes`` gives the chunk sizes in order
    (``map(len, chunks)``), so 130 pairs in chunks of 16 read "130/130", not "9/9".
    """
    steps = iter(sizes) if sizes is not None else None
    if not show:
        yield from items
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=_console()) as progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task, next(steps, 1) if steps is not None else 1)


@contextmanager
def library_bars(show: bool) -> Iterator[None]:
    """Hide the progress bars of Hugging Face ``datasets`` inside the block when ``show`` is false.

    ``--quiet`` means no bars at all, also those of ``load_dataset``; the process-wide setting is restored
    afterwards. Imports ``datasets`` only when quieting (callers load it anyway).
    """
    if show:
        yield
        return
    import datasets

    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()

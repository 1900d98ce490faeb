"""Read stage: turn paths, globs, directories, compressed files and stdin into byte lines."""

from .sources import (
    DEFAULT_MAX_LINE_BYTES,
    ReadStats,
    expand_paths,
    open_source,
    read_batches,
    skipped_note,
)

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "ReadStats",
    "expand_paths",
    "open_source",
    "read_batches",
    "skipped_note",
]

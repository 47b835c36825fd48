"""Exceptions that name the file or value at fault and what was expected."""


class ReidError(Exception):
    """Base class of the toolkit's user-facing errors (the CLI prints them without a traceback)."""


class DatasetLayoutError(ReidError):
    """A dataset folder does not have the on-disk layout its reader expects."""


class BackendOptionError(ReidError):
    """A backend was asked for an option it does not take (e.g. ``profile`` on one without an operator profiler)."""

"""Exceptions with messages meant for users; the CLI prints them without a traceback."""


class LayerganError(Exception):
    """Base class: an error whose message is complete and user-facing."""


class DataError(LayerganError):
    """A problem with one input file or folder; the message names it."""


class ConfigError(LayerganError):
    """An invalid option or configuration value."""


class CheckpointError(LayerganError):
    """A checkpoint that is missing, partial, corrupt or unsafe."""


class OutputError(LayerganError):
    """A file or folder could not be written: no permission, no space, or a file where a folder must be."""

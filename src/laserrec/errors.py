"""User-facing errors: each carries one clear message naming the file, line or value at fault.

The CLI prints these without a stack trace and exits with status 2.
"""


class LaserrecError(Exception):
    """Base class of every error a user can cause."""


class DataError(LaserrecError):
    """Bad input data: malformed file, missing field, unknown id."""


class ConfigError(LaserrecError):
    """A bad configuration value, unknown key or missing run folder."""


class CheckpointError(LaserrecError):
    """A checkpoint that is missing or does not match the config or dataset."""

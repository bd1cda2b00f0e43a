"""The miner daemon: settings, work sources, workers, journal, metrics, CLI."""

from miner._version import __version__

__all__ = ["__version__"]

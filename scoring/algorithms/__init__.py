"""The scoring registry's entries, one module per algorithm version (see :mod:`scoring.registry`)."""

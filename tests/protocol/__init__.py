"""Tests of the wire protocol package (mirrors ``protocol/``)."""

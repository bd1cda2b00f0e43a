"""Numerical kernels: Neuraxon networks, worlds and hash helpers. Arrays in, arrays out.

Imports only numpy and numba; no I/O, logging, asyncio or pydantic.
"""

"""Numba kernels of the metrology toolkit.

Arrays and scalars in, arrays out: no I/O, no objects, no imports from
:mod:`metrology`. Heights are in nm and coordinates are dimensionless (or mm)
exactly as each kernel documents. Compilation flags live in
:mod:`kernels._config`.
"""

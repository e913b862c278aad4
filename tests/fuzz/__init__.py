"""Fuzz suite of the readers and the spec parser (issue 18), driven by the format registry.

Every format registered with :func:`metrology.io.register` is a target: its
sources (``corpus``) are mutated (``mutators``) and each case must end in
:class:`~metrology.FileFormatError` or a valid map within 2 s and the memory
bound, and leave its input unchanged (``oracle``). ``python -m tests.fuzz``
runs it from the command line; ``tests/fuzz/test_fuzz.py`` runs the quick
profile in the default test run.
"""

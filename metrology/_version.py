__version__ = "0.1.0"

#: the name of the distribution on PyPI (``pip install optical-metrology``); the import
#: name and the console script stay ``metrology`` (the PyPI name ``metrology`` belongs
#: to an unrelated package)
DISTRIBUTION = "optical-metrology"


def install_hint(extra: str) -> str:
    """The command that installs an optional extra, e.g. ``pip install
    "optical-metrology[plot]"``."""
    return f'pip install "{DISTRIBUTION}[{extra}]"'

"""warmserve: keep MLflow models warm behind HTTP."""

__version__ = "0.1.0"

"""vive's version, cc.__version__ (pyproject.toml states it too): part of every disk-cache key, and `vive --version`.
A module of its own so that the backends read it without importing the package's public API above them."""
__version__ = "0.1.0"

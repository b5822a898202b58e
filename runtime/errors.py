"""The one exception type the CPU runtime raises; the compiler wraps it into its BackendError."""


class RuntimeBackendError(RuntimeError):
    """The runtime cannot do what was asked: bad LLVM IR, a missing library or symbol, a bad call."""

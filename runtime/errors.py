"""The one exception type the CPU runtime raises; the compiler wraps it into its BackendError."""


class RuntimeBackendError(RuntimeError):
    """The runtime cannot do what was asked: bad LLVM IR, a missing library or symbol, a bad call."""


class CudaUnavailable(RuntimeBackendError):
    """No CUDA driver, no device, or no cuda-bindings: GPU code cannot run here (compiling to PTX still works)."""


class CudaError(RuntimeBackendError):
    """A CUDA driver call failed; the message holds the call, the driver's error name and its description."""

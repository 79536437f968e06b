"""Find the BLAS library and hand its GEMM routines to the C kernels.

The kernels call sgemm/dgemm through a function-pointer table (csrc/blas.c). At import
this module loads the OpenBLAS shipped by the ``scipy-openblas32`` wheel *by path* with
RTLD_LOCAL: importing ``scipy_openblas32`` would load it RTLD_GLOBAL and make SciPy's
extensions bind to it instead of their own copy.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import os
import sys

from . import _kernels

_LIBRARY_PATTERNS = ("libscipy_openblas*.so*", "libscipy_openblas*.dylib", "libscipy_openblas*.dll")
_library = None  # keeps the CDLL (and so the function addresses) alive
_library_path = None


def _find_library() -> str:
    spec = importlib.util.find_spec("scipy_openblas32")
    if spec is None or spec.origin is None:
        raise ImportError(
            "fastrnn needs the scipy-openblas32 package for its BLAS; "
            "install it with: pip install scipy-openblas32"
        )
    libdir = os.path.join(os.path.dirname(spec.origin), "lib")
    for pattern in _LIBRARY_PATTERNS:
        found = sorted(glob.glob(os.path.join(libdir, pattern)))
        if found:
            return found[0]
    raise ImportError(f"scipy-openblas32 is installed but holds no BLAS library in {libdir}")


def load() -> None:
    """Load the BLAS once and install its GEMM and GEMV routines in the kernels' table."""
    global _library, _library_path
    if _library is not None:
        return
    path = _find_library()
    mode = os.RTLD_LOCAL if sys.platform != "win32" else 0
    library = ctypes.CDLL(path, mode=mode)

    def address(name: str) -> int:
        return ctypes.cast(getattr(library, name), ctypes.c_void_p).value

    _kernels.set_blas(*(address(f"scipy_{name}_") for name in ("sgemm", "dgemm", "sgemv", "dgemv")))
    _library, _library_path = library, path


def info() -> dict:
    """The BLAS the kernels use: library path and OpenBLAS configuration string."""
    if _library is None:
        return {"library": None, "config": None}
    config = None
    get_config = getattr(_library, "scipy_openblas_get_config", None)
    if get_config is not None:
        get_config.restype = ctypes.c_char_p
        config = get_config().decode(errors="replace")
    return {"library": _library_path, "config": config}

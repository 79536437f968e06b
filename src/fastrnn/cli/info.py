"""``fastrnn info``: versions, the BLAS the kernels call, and its thread count."""

from __future__ import annotations

import platform


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("info", help="show versions, BLAS library and threads")
    parser.set_defaults(run=run)


def run(args) -> int:
    import numpy as np
    from threadpoolctl import threadpool_info

    import fastrnn

    blas = fastrnn.blas_info()
    print(f"fastrnn   {fastrnn.__version__}")
    print(f"python    {platform.python_version()} ({platform.machine()})")
    print(f"numpy     {np.__version__}")
    print(f"BLAS      {blas['config']}")
    print(f"          {blas['library']}")
    for pool in threadpool_info():
        if pool.get("filepath") == blas["library"]:
            print(f"threads   {pool.get('num_threads')} (limit with threadpoolctl)")
    return 0

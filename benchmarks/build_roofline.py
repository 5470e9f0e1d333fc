"""Build the roofline kernels (``benchmarks/roofline.pyx``) on demand.

The bare scatter-add loops that ``benchmarks/brunel.py`` times against nmgraph are a benchmark, not
part of the installed runtime. :func:`load` compiles them once, with the compiler flags and Cython
directives that setup.py gives the runtime's kernels (so that the roofline is as optimised as what
it bounds), into a folder named after a hash of the source, the flags and the Python and NumPy
versions, and imports the result; later calls find the built module there. ::

    python -m benchmarks.build_roofline        # build (or find) it and print where it is
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import platform
import shutil
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "roofline.pyx"
#: Where :func:`load` builds by default (``build/`` is ignored by git).
BUILD_DIR = HERE / "build"
#: setup.py's Cython directives for the runtime's kernels.
DIRECTIVES = {"boundscheck": False, "wraparound": False, "cdivision": True}


def compile_args() -> list[str]:
    """setup.py's C flags for the runtime's kernels (keep the two in step)."""
    args = ["-O3"]
    if not os.environ.get("NMGRAPH_PORTABLE_BUILD"):
        args.append("-march=native")
        if platform.machine().lower() in ("x86_64", "amd64"):
            args.append("-mprefer-vector-width=512")
    return args


def load(build_dir: str | os.PathLike[str] | None = None) -> ModuleType:
    """The roofline module (``scatter_add``, ``scatter_add_delayed``), built first if needed."""
    args = compile_args()
    stamp = "\n".join([SOURCE.read_text(encoding="utf-8"), *args, sys.version, np.__version__])
    folder = Path(build_dir or BUILD_DIR) / f"roofline-{hashlib.sha256(stamp.encode()).hexdigest()[:12]}"
    built = sorted(folder.glob("roofline.*.so")) + sorted(folder.glob("roofline.*.pyd"))
    path = built[0] if built else _build(folder, args)
    spec = importlib.util.spec_from_file_location("roofline", path)
    if spec is None or spec.loader is None:  # pragma: no cover - a broken build folder
        raise ImportError(f"cannot import the roofline module built at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _build(folder: Path, args: list[str]) -> Path:
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension

    work = folder / "work"
    work.mkdir(parents=True, exist_ok=True)
    source = work / SOURCE.name  # cythonize writes the .c beside its source
    shutil.copyfile(SOURCE, source)
    extension = Extension("roofline", [str(source)], include_dirs=[np.get_include()],
                          define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                          extra_compile_args=args)
    with contextlib.redirect_stdout(sys.stderr):  # keep a benchmark's stdout for its report
        modules = cythonize([extension], language_level=3, compiler_directives=DIRECTIVES,
                            quiet=True)
        command = Distribution({"ext_modules": modules}).get_command_obj("build_ext")
        command.build_lib = str(work / "lib")
        command.build_temp = str(work / "temp")
        command.ensure_finalized()
        command.run()
    built = Path(command.get_ext_fullpath("roofline"))
    path = folder / built.name
    os.replace(built, path)  # the module appears complete or not at all
    shutil.rmtree(work, ignore_errors=True)
    return path


if __name__ == "__main__":
    print(load().__file__)

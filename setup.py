"""Build script: maps the four top-level folders into the ``nmgraph`` namespace and builds the
Cython kernels. Metadata lives in pyproject.toml."""

import os
import platform
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

PACKAGE_DIRS = {
    "nmgraph": "nmgraph",
    "nmgraph.processes": "processes",
    "nmgraph.compilers": "compilers",
    "nmgraph.runtimes": "runtimes",
}

# Sub-packages under those folders (setuptools lists packages, not trees): every folder with an
# __init__.py, found here so that a new sub-package cannot be left out of a non-editable install.
SUBPACKAGES = sorted(
    ".".join((package, *init.parent.relative_to(folder).parts))
    for package, folder in PACKAGE_DIRS.items()
    for init in Path(folder).glob("*/**/__init__.py"))

# The runtime's kernels, then every model kernel module (runtimes/_k_*.pyx): a new model with a
# Cython kernel adds its own file and nothing here.
KERNELS = ["_sync", "_fanout", "_worker_kernel", "_plastic",
           *sorted(path.stem for path in Path("runtimes").glob("_k_*.pyx"))]

# Cython finds a .pxd under its dotted name (nmgraph/runtimes/_fixed.pxd), but the sources live
# in runtimes/. A tree of links under build/ mirrors the package layout so that the kernel modules
# can cimport the shared headers (_fixed.pxd: the fixed-point equations; _kernel.pxd: the model
# kernel interface).
CYTHON_INCLUDE = Path("build", "cython_include")
for package, folder in PACKAGE_DIRS.items():
    if package == "nmgraph":
        continue
    link = CYTHON_INCLUDE.joinpath(*package.split("."))
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(os.path.relpath(Path(folder).resolve(), link.parent.resolve()))

# The kernels are integer loops that the compiler vectorises (the neuron updates, the Poisson hash);
# tuning them for the CPU that builds them is what a from-source install is for. Set
# NMGRAPH_PORTABLE_BUILD=1 to build binaries that run on any x86-64 (e.g. for a wheel).
# Results do not depend on it: integer arithmetic is exact either way.
COMPILE_ARGS = ["-O3"]
if not os.environ.get("NMGRAPH_PORTABLE_BUILD"):
    COMPILE_ARGS.append("-march=native")
    if platform.machine().lower() in ("x86_64", "amd64"):
        # full-width AVX-512 where the CPU has it (gcc defaults to 256-bit vectors there)
        COMPILE_ARGS.append("-mprefer-vector-width=512")

extensions = [
    Extension(
        f"nmgraph.runtimes.{name}",
        [f"runtimes/{name}.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=COMPILE_ARGS,
    )
    for name in KERNELS
]

setup(
    package_dir=PACKAGE_DIRS,
    packages=[*PACKAGE_DIRS, *SUBPACKAGES],
    package_data={"nmgraph.compilers": ["profiles/*.toml"], "nmgraph.runtimes": ["*.pyx", "*.pxd"]},
    ext_modules=cythonize(
        extensions,
        language_level=3,
        include_path=[str(CYTHON_INCLUDE)],
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    ),
)

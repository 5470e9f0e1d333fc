"""Build script: maps the four top-level folders into the ``nmgraph`` namespace and builds the
Cython kernels. Metadata lives in pyproject.toml."""

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

PACKAGE_DIRS = {
    "nmgraph": "nmgraph",
    "nmgraph.processes": "processes",
    "nmgraph.compilers": "compilers",
    "nmgraph.runtimes": "runtimes",
}

KERNELS = ["_neurons", "_sync"]

extensions = [
    Extension(
        f"nmgraph.runtimes.{name}",
        [f"runtimes/{name}.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3"],
    )
    for name in KERNELS
]

setup(
    package_dir=PACKAGE_DIRS,
    packages=list(PACKAGE_DIRS),
    package_data={"nmgraph.compilers": ["profiles/*.toml"], "nmgraph.runtimes": ["*.pyx", "*.pxd"]},
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    ),
)

"""Build the Cython extension; all metadata lives in pyproject.toml.

There is deliberately no pure-Python fallback: if the extension does not
compile, ``pip install`` fails loudly instead of shipping a slow package.
"""

import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

if sys.platform == "win32":
    openmp_compile, openmp_link = ["/openmp"], []
elif sys.platform == "darwin":
    # Apple clang has no bundled OpenMP; prange then runs serially.
    openmp_compile, openmp_link = [], []
else:
    openmp_compile, openmp_link = ["-fopenmp"], ["-fopenmp"]

extensions = [
    Extension(
        f"fastdigits.{name}",
        sources=[f"ext/{name}.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3", *openmp_compile] if sys.platform != "win32" else openmp_compile,
        extra_link_args=openmp_link,
    )
    for name in ("_preprocess", "_forward")  # the image pipeline; the forward pass of a few rows
]

setup(ext_modules=cythonize(extensions, language_level=3))

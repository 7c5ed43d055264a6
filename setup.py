"""Build the Cython extension, then compile the Numba kernels into the
package; all metadata lives in pyproject.toml.

There is deliberately no pure-Python fallback: if the extension does not
compile, ``pip install`` fails loudly instead of shipping a slow package.
The kernels' compile is a convenience: if it fails, the install goes on and
they compile at first use, as numba does.
"""

import os
import shutil
import subprocess
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

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



class build_ext_and_kernels(build_ext):
    """build_ext, then ``python -m fastdigits.kernels.precompile`` on the
    built package (not for in-place and editable builds, nor with
    ``FASTDIGITS_PRECOMPILE=0``): about a minute on 2 cores, once, instead
    of at the first ``fastdigits train``."""

    def run(self):
        super().run()
        if self.inplace or os.environ.get("FASTDIGITS_PRECOMPILE", "1") == "0":
            return
        target = os.path.join(self.build_lib, "fastdigits", "kernels", "_compiled")
        shutil.rmtree(target, ignore_errors=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.path.abspath(self.build_lib),
                                                                           os.environ.get("PYTHONPATH")]))}
        env.pop("FASTDIGITS_PACKAGE_KERNELS", None)
        print("compiling the Numba kernels into the package, once (FASTDIGITS_PRECOMPILE=0 skips it)")
        try:
            done = subprocess.run([sys.executable, "-m", "fastdigits.kernels.precompile"], env=env,
                                  cwd=self.build_temp if os.path.isdir(self.build_temp) else None).returncode == 0
        except OSError as exc:
            print(f"could not run the kernels' compile: {exc}")
            done = False
        if not done:
            # A partial cache is harmless, but an empty promise is not: kernels compile at first use.
            shutil.rmtree(target, ignore_errors=True)
            print("warning: the Numba kernels were not compiled at install; they will compile at first use")


setup(ext_modules=cythonize(extensions, language_level=3), cmdclass={"build_ext": build_ext_and_kernels})

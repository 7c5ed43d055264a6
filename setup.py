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
import tempfile

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
        # No contraction of a * b + c into fused multiply-adds (which GCC does by default wherever the
        # target has them, e.g. with -march=native in CFLAGS): the compiled forward pass's sums keep
        # the same bits in every build.
        extra_compile_args=["-O3", "-ffp-contract=off", *openmp_compile] if sys.platform != "win32" else openmp_compile,
        extra_link_args=openmp_link,
    )
    for name in ("_preprocess", "_forward")  # the image pipeline; the forward pass of a few rows
]


class build_ext_and_kernels(build_ext):
    """build_ext, then ``python -m fastdigits.kernels.precompile`` on the
    built package (not for in-place and editable builds, nor with
    ``FASTDIGITS_PRECOMPILE=0``): about a minute and a half on 2 cores,
    once, instead of at the first ``fastdigits train``."""

    #: Seconds the compile may take before the install goes on without it.
    TIMEOUT = 1200

    def run(self):
        super().run()
        if self.inplace or os.environ.get("FASTDIGITS_PRECOMPILE", "1") == "0":
            return
        target = os.path.join(self.build_lib, "fastdigits", "kernels", "_compiled")
        shutil.rmtree(target, ignore_errors=True)  # a previous build's, for other sources
        # The built package first on the path; numba's settings are this machine's defaults (a
        # NUMBA_CPU_NAME of the build's would key the entries to another CPU than the one they run on).
        env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
        # pip's isolated build environment may be on PYTHONPATH (numba, numpy): kept, after the package.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.abspath(self.build_lib), env.get("PYTHONPATH")]))
        print("compiling the Numba kernels into the package, once (FASTDIGITS_PRECOMPILE=0 skips it)", flush=True)
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # no .pyc files into the wheel
        with tempfile.TemporaryDirectory() as cwd:  # not the source tree: -m would import its fastdigits
            try:
                # A session of its own: on a timeout, its jobs stop with it.
                proc = subprocess.Popen([sys.executable, "-m", "fastdigits.kernels.precompile"], env=env, cwd=cwd,
                                        start_new_session=sys.platform != "win32")
                done = proc.wait(timeout=self.TIMEOUT) == 0
            except subprocess.TimeoutExpired as exc:
                print(f"the kernels' compile did not finish: {exc}")
                if sys.platform != "win32":
                    os.killpg(proc.pid, 9)
                proc.kill()
                proc.wait()
                done = False
            except OSError as exc:
                print(f"the kernels' compile did not start: {exc}")
                done = False
        if not done:  # what did compile is kept; the rest compiles at first use, announced
            print("warning: not every Numba kernel was compiled at install; the rest compile at first use")


setup(ext_modules=cythonize(extensions, language_level=3), cmdclass={"build_ext": build_ext_and_kernels})

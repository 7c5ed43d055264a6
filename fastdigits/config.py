"""Defaults, locations and compiler flags, in one place.

Numba flags are read from here at decoration time by ``fastdigits.kernels``;
nothing else in the package writes literal ``cache=``/``fastmath=`` flags
(``tests/test_config.py`` checks).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

#: Side of the square frame that the network sees (400 = 20 x 20 inputs).
IMAGE_SIZE = 20

#: Environment variable naming a folder that holds the four MNIST files.
DATA_ENV = "FASTDIGITS_DATA"

#: Environment variable overriding the cache folder (downloads land here).
CACHE_ENV = "FASTDIGITS_CACHE"

#: Environment variable replacing the mirrors below (comma-separated URLs).
MIRRORS_ENV = "FASTDIGITS_MNIST_MIRRORS"

#: Public MNIST mirrors, tried in order: the ones torchvision and
#: TensorFlow Datasets download from, then the original site.
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

#: Seconds to wait for a mirror before trying the next one.
DOWNLOAD_TIMEOUT = 10.0


def mnist_mirrors() -> tuple[str, ...]:
    """The mirrors to download MNIST from: ``$FASTDIGITS_MNIST_MIRRORS`` or the public ones."""
    custom = os.environ.get(MIRRORS_ENV, "")
    return tuple(m.strip() for m in custom.split(",") if m.strip()) or MNIST_MIRRORS

# Numba flags for every CPU kernel (see fastdigits.kernels.cpu).
NUMBA_CACHE = True
#: Fused multiply-add only.  Reassociation would let LLVM turn the register
#: tiles' loops into gathers, and nnan/ninf would hide diverging weights.
NUMBA_FASTMATH = {"contract"}
#: For the kernels that only sum: reassociation lets LLVM vectorise them.
NUMBA_FASTMATH_SUMS = {"contract", "reassoc"}
NUMBA_PARALLEL = True

# numba.cuda kernels (fastdigits.kernels.cuda); read at call time, so tests
# can make blocks small enough for the simulator (NUMBA_ENABLE_CUDASIM=1).
#: Threads of a block of the rows pass, which gives each block one batch
#: row at a time: a layer's units are spread over them.  The one-launch
#: training kernel's blocks have as many.
CUDA_ROW_THREADS = 256
#: Blocks of the rows pass at most; a block takes rows b, b + blocks, ...
CUDA_ROW_BLOCKS = 4096
#: Threads of a block of the weights pass (one thread per parameter).
CUDA_WEIGHT_THREADS = 256
#: Train a run of minibatches in one launch, the grid waiting for itself
#: between a batch's passes (a cooperative launch), rather than two
#: launches per batch.
CUDA_FUSED = True
#: Blocks of that launch; 0: as many as can be resident at once (if the
#: GPU or driver refuses a cooperative launch, fastdigits warns and goes on
#: with two launches per batch; a number set here must fit, or it raises).
CUDA_TRAIN_BLOCKS = 0


def cache_dir() -> Path:
    """Folder where downloads are kept: ``$FASTDIGITS_CACHE``, else the
    XDG cache (``~/.cache/fastdigits``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "fastdigits"


def default_threads() -> int:
    """Threads for parallel loops: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@functools.cache
def register_tile() -> int:
    """Widest register tile of the CPU kernels, in columns: 128 where the CPU
    has AVX-512 (8 of its 32 registers of 16 floats), else 64 (8 of AVX2's
    16 registers of 8 floats)."""
    from llvmlite import binding

    return 128 if "+avx512f" in binding.get_host_cpu_features().flatten() else 64


#: Where dense register blocks (``kernels._dense``: three rows share each
#: load of weights) and the sums of each row's nonzeros (``kernels._sparse``)
#: take the same time in prediction, by the kernels' register tile
#: (``register_tile``), measured with ``benchmarks/dense_crossover.py`` on a
#: 2-core AMD EPYC of each kind (``benchmarks/RESULTS.md``): Zen 3, AVX2
#: ("Issue 20, fifth round": since nonzeros are listed by a permute rather
#: than LLVM's expanded compress, the blocks pass the sums between 42 and
#: 50 % nonzero, 0.25 before); Zen 4, AVX-512 ("Issue 20, third round": the
#: blocks passed the sums between 50 and 60 % nonzero, and read MNIST
#: frames, 42 %, 0.88-1.06 times as fast).
DENSE_SHARES = {64: 0.45, 128: 0.55}

#: A layer's rows go through it by dense register blocks when at least this
#: share of their inputs is nonzero, and by the sums of their nonzeros
#: otherwise; so do each three rows of a weight gradient.  Both give the same
#: bits.  In a prediction, a layer of ``kernels.cpu.NARROW`` to
#: ``kernels.cpu.SUMS_WIDE`` - 1 outputs goes by the blocks whatever its
#: zeros unless this is over 1 (never dense).  None: ``DENSE_SHARES``'
#: value for this CPU (``dense_share()``).
DENSE_SHARE: float | None = None

#: Training's first layer goes by dense register blocks from this share of
#: nonzeros in its rows (``Network.training_share``, read when a model's
#: network is made): training gains less from them than prediction.  On
#: Zen 3 MNIST frames (42 %, their zeros along the border) trained 7-19 %
#: slower with them at batches of 32 and 128 and rows 30-60 % nonzero at
#: random places 0.7-1.05 times as fast, against 1.4-1.7 times for rows
#: without zeros and 1.36 for 80 % ("Dense rows"); on Zen 4 0.78-1.01 times
#: up to 60 % and 1.78 at 80 % ("Issue 20, third round").
DENSE_TRAINING_SHARE = 0.8


def dense_share() -> float:
    """The share of nonzero inputs from which prediction's products go by
    dense register blocks on this CPU.

    Returns
    -------
    float
        ``DENSE_SHARE`` where it is set, else ``DENSE_SHARES``' value for
        this CPU's register tile (``register_tile``: the first call asks
        llvmlite for the CPU's features).
    """
    return DENSE_SHARE if DENSE_SHARE is not None else DENSE_SHARES[register_tile()]


#: Arrays of at least this many values are checked for NaN and infinity by
#: a parallel kernel (about 3x as fast as ``np.isfinite(x).all()`` on 2 cores
#: for 10,000 rows: ``benchmarks/kernel_forms.py``); smaller ones in one
#: serial pass of the compiled extension (``_forward.outside_total``), which
#: needs no thread pool.
PARALLEL_CHECK_SIZE = 1 << 16

#: Frames are floats in [0, 1] give or take this much (rows made outside
#: fastdigits, such as ``resize(images) / 255`` in float32, may overshoot by
#: rounding).  Feature rows as wide as a model's frames (400) whose values
#: all lie within [0, 255] with a maximum above 1 + this are taken for a
#: picture's grey levels and refused.
FRAME_VALUE_SLACK = 1e-3

#: Up to this many rows, predict with the forward pass that ``pip install``
#: compiled (``ext/_forward.pyx``), on the calling thread: no JIT compile
#: before the first answer (classify of one file, read_number, a web
#: request), no thread pool to wake, no lock.  More rows go to the Numba
#: kernels, compiled on their first use and cached, which are faster from
#: about 17 rows of 400-25-10, 400-128-10 and 400-800-10, MNIST frames or
#: dense rows (``benchmarks/few_rows.py --hidden 25 128 800``, Zen 4; from
#: 17 to 32 rows of 400-128-10 on Zen 1): the compiled loop takes three rows
#: at a time with AVX2 at most, the kernels read the weights in place for
#: few rows and share them out between the threads from
#: ``kernels.cpu.POOL_WORK`` multiply-adds (``benchmarks/RESULTS.md``,
#: "Issue 20, fourth round").
COMPILED_ROWS = 16

#: Once a process has loaded the Numba kernels (for a bigger batch, or to
#: train), a batch of more multiply-adds than this (rows x weights and
#: biases) goes to them even within COMPILED_ROWS, one row excepted: their
#: fixed cost a call (about 90 us on the Zen 1 box, where one row of
#: 400-128-10 takes 24 us by the compiled pass and 92 by the kernels) is
#: earned back between 1.3 M and 2.6 M, 4 and 8 rows of the shipped model's
#: 400-800-10 (compiled / kernels there: 162 / 218 us at 4 MNIST frames,
#: 348 / 287 at 8, 628 / 321 at 16; ``benchmarks/few_rows.py --rows 1 2 4 8
#: 12 16 --hidden 128 800``, Zen 1; ``benchmarks/RESULTS.md``, "Issue 20,
#: fourth round").  A process that has not loaded them keeps every batch of
#: up to COMPILED_ROWS rows on the compiled pass: loading them takes about
#: 0.4 s with the cache filled.
COMPILED_WORK = 1_500_000

# MNIST-style normalisation (fastdigits.preprocess.Normalization defaults).
#: Long side of the ink's box inside the 20x20 frame: the full frame measured
#: best for a 20x20 input (MNIST's own convention is 20 inside 28).
NORM_BOX = 20.0
#: A border whose 90th percentile is at most this (after inversion) is clean: no
#: background removal or threshold (MNIST's own digits).
NORM_CLEAN_LEVEL = 0.1
#: Percentile of each block taken as the background level.
NORM_BACKGROUND_PERCENTILE = 0.1
#: Soft threshold and gain applied after contrast stretching.
NORM_THRESHOLD = 0.35
NORM_GAIN = 2.0
#: Components with less ink than this share of the largest are specks.
NORM_KEEP_RATIO = 0.03
#: Target stroke width as a share of the ink box's long side; thinner
#: strokes are thickened (never thinned).  0 disables.
NORM_STROKE = 0.08
#: Ink level that defines stroke edges for the width estimate.
NORM_INK_LEVEL = 0.5
#: From a clean border, values below this share of the brightest pixel are
#: dropped when the ink is speckled: JPEG ringing around light-on-dark digits
#: reaches 0.17 at quality 50 (``benchmarks/accuracy_kinds.py``).
NORM_CLEAN_THRESHOLD = 0.2
#: No ink unless the ink's contrast with its background (the brightest 3x3
#: mean, as a share of the full scale) reaches this: 10 grey levels of 255.
NORM_MIN_CONTRAST = 0.04
#: ... and, on paper, this many times the noise's standard deviation (a
#: blank page's noisiest 3x3 mean reaches about 3 of them).
NORM_MIN_SNR = 6.0
#: Ink that, holes filled, fills this share of its smallest enclosing
#: rectangle (at any angle) is a page seen in a dark surround: none of MNIST's
#: 70,000 digits reaches 0.9, pages in ``benchmarks/accuracy_kinds.py`` 0.95.
NORM_PAGE_FILL = 0.92
#: On paper, straight ink at least this share of the picture long and at most
#: ``NORM_LINE_WIDTH`` of it thick (2 px at least) is a ruled or grid line.
NORM_LINE_LENGTH = 0.8
NORM_LINE_WIDTH = 0.03
#: Images larger than this on their long side are area-reduced first: a
#: 20x20 frame needs no more detail, and photos get 5x cheaper (measured:
#: frames differ by 0.011 per pixel on average from working at 1024 px).
NORM_MAX_SIDE = 256

#: With "scale" preprocessing (the whole picture area-scaled, not inverted),
#: a frame whose grey levels span at most this has no ink: a white, black
#: or grey page, its noise averaged away (a pen stroke spans far more).
SCALE_BLANK_SPREAD = 4 / 255

#: ``fastdigits read`` works on pictures reduced to this long side at most:
#: a row of eight digits keeps 100 px per digit.
READ_MAX_SIDE = 1024

#: Pictures with more pixels than this are refused unread (decompression
#: bombs); a 12-megapixel phone photo is well inside.
MAX_IMAGE_PIXELS = 64_000_000
#: ... and files larger than this (bytes) unread: pictures are decoded from
#: memory (an uncompressed 64-megapixel RGBA picture is 256 MB).
MAX_IMAGE_BYTES = 512 << 20

#: Model files whose arrays declare more bytes than this in all are refused
#: before any is read (a 784-4096-4096-10 float64 network is 160 MB).
MAX_MODEL_BYTES = 256 << 20
#: ... or that hold more arrays than this (a network has 2 per layer).
MAX_MODEL_ARRAYS = 4096

#: A temporary file of an interrupted save (``.<name>.<pid>.<random>.part``)
#: whose process is gone is removed by the next save to its folder once
#: nobody has touched it for this many seconds.
STALE_PART_SECONDS = 60

#: Images decoded and classified per batch by ``fastdigits classify``, and
#: decoded and prepared per batch by ``load_image_folder``.
CLASSIFY_BATCH = 256

#: Files per partition (one Dask task) by default: two batches of
#: :data:`CLASSIFY_BATCH`.  A partition that is whole batches classifies
#: its pictures in the same batches as a local run does, so its
#: probabilities are the same to the last bit (a network's float32 sums
#: over a batch of 4 and one of 256 may differ in the last place).  A
#: partition costs the scheduler about 10 ms whatever its size, while a
#: worker process takes 0.3-0.4 s for 512 MNIST-sized PNG files: about 3 %
#: (``benchmarks/bench_dask.py`` measures both).
PARTITION_SIZE = 2 * CLASSIFY_BATCH

#: Models a Dask worker process keeps loaded (the most recently used).
DASK_MODELS_KEPT = 4

#: Seconds a Dask run waits in a cluster without workers before it gives up
#: with a ClusterError (a worker that dies is replaced within seconds).
DASK_NO_WORKERS_SECONDS = 60.0

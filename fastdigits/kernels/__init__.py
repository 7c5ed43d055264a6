"""Compiled kernels of the network: ``cpu`` (Numba, parallel).

Activation and output styles are chosen in Python from the table below and
passed to kernels as small integers: a cached kernel never receives a
jitted function.
"""

IDENTITY, SIGMOID, TANH, RELU, SOFTMAX = range(5)

#: Public names of hidden-layer activations and their kernel codes.
HIDDEN_ACTIVATIONS = {"sigmoid": SIGMOID, "tanh": TANH, "relu": RELU, "identity": IDENTITY}

#: Public names of output styles and their kernel codes.
OUTPUTS = {"softmax": SOFTMAX, "sigmoid": SIGMOID}

"""Small dense-matrix operators for the solver tests."""

from __future__ import annotations

import torch

from discofold.operators import LinearOperator


class DenseOp(LinearOperator):
    """``A x = M vec(x)`` for images ``(..., H, W)`` → ``(..., m)`` with a dense matrix ``M``."""

    name = "DenseOp"

    def __init__(self, matrix: torch.Tensor, image_shape):
        self.matrix = matrix
        self.in_shape = tuple(image_shape)
        self.out_shape = (matrix.shape[0],)
        self.complex_input = self.complex_output = matrix.is_complex()

    def _forward(self, x):
        flat = x.reshape(*x.shape[:-2], -1).to(self.matrix.dtype)
        return flat @ self.matrix.T

    def _adjoint(self, y):
        x = y.to(self.matrix.dtype) @ self.matrix.conj()
        return x.reshape(*y.shape[:-1], *self.in_shape)


class Identity(LinearOperator):
    """``A = I`` on images ``(..., H, W)``."""

    name = "Identity"

    def __init__(self, image_shape, complex_input: bool = True):
        self.in_shape = self.out_shape = tuple(image_shape)
        self.complex_input = self.complex_output = complex_input

    def _forward(self, x):
        return x.clone()

    def _adjoint(self, y):
        return y.clone()


def random_dense(m: int, shape, seed: int = 0, dtype=torch.complex128) -> DenseOp:
    """A random Gaussian ``(m, H·W)`` operator, scaled to ``‖A‖ ≈ 1``."""
    gen = torch.Generator().manual_seed(seed)
    n = shape[0] * shape[1]
    real = torch.float64 if dtype in (torch.complex128, torch.float64) else torch.float32
    mat = torch.randn(m, n, generator=gen, dtype=real)
    if dtype.is_complex:
        mat = torch.complex(mat, torch.randn(m, n, generator=gen, dtype=real))
    mat = mat / torch.linalg.matrix_norm(mat, ord=2)
    return DenseOp(mat.to(dtype), shape)

"""Load neuraloperator's DISCO module without importing the whole ``neuralop`` package.

``neuralop/__init__.py`` pulls in its data loaders (``requests``, ...), which the cross-checks do
not need; the DISCO module itself only needs torch and torch-harmonics.  Skips the calling test
when neuraloperator or torch-harmonics is absent.
"""

from __future__ import annotations

import importlib.util
import pathlib

import pytest


def load_neuralop_disco():
    """Return neuraloperator's ``layers/discrete_continuous_convolution`` module, or skip."""
    pytest.importorskip("torch_harmonics")
    spec = importlib.util.find_spec("neuralop")
    if spec is None or spec.origin is None:
        pytest.skip("neuraloperator is not installed")
    path = pathlib.Path(spec.origin).parent / "layers" / "discrete_continuous_convolution.py"
    if not path.exists():
        pytest.skip(f"neuraloperator has no {path.name}")
    mod_spec = importlib.util.spec_from_file_location("_neuralop_disco", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module

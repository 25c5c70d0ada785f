"""Running trained models on data: ``discofold.load_model`` and ``discofold recon --checkpoint``.

>>> import discofold
>>> model = discofold.load_model("mri-unified")       # or a path such as runs/x/best.pt
>>> x_hat = model(y, op, meta)                         # doctest: +SKIP
>>> images = model.reconstruct_file("in.h5", "out.h5", batch_size=4)  # doctest: +SKIP

:class:`TrainedModel` wraps the network with its checkpoint's provenance (name, sha256, step);
:func:`mri_inputs` / :func:`radar_inputs` build the ``(y, op, meta)`` of a batch of file
records, the one place that does so for ``recon``, ``eval`` and the Python API.
"""

from ._inputs import (
    estimates_own_maps,
    model_recon_mri,
    model_recon_radar,
    mri_inputs,
    mri_record_meta,
    radar_inputs,
    radar_record_meta,
    run_mri,
    run_radar,
)
from ._model import TrainedModel, as_device, load_model

__all__ = [
    "load_model",
    "TrainedModel",
    "as_device",
    "mri_inputs",
    "radar_inputs",
    "mri_record_meta",
    "radar_record_meta",
    "run_mri",
    "run_radar",
    "model_recon_mri",
    "model_recon_radar",
    "estimates_own_maps",
]

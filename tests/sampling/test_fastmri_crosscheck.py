"""Optional cross-check against fastMRI's own mask functions (skipped when not installed)."""

from __future__ import annotations

import pytest
import torch

from discofold.sampling import column_mask

subsample = pytest.importorskip("fastmri.data.subsample")

_CLASSES = {
    "equispaced": "EquiSpacedMaskFunc",
    "equispaced_fraction": "EquispacedMaskFractionFunc",
    "magic": "MagicMaskFunc",
    "magic_fraction": "MagicMaskFractionFunc",
}


@pytest.mark.parametrize("pattern", sorted(_CLASSES))
@pytest.mark.parametrize("w,r,cf", [(368, 4, 0.08), (369, 8, 0.04), (320, 4, 0.08)])
def test_deterministic_patterns_equal_fastmri_for_a_given_offset(pattern, w, r, cf):
    cls = getattr(subsample, _CLASSES[pattern], None)
    if cls is None:
        pytest.skip(f"installed fastMRI has no {_CLASSES[pattern]}")
    for offset in range(2):
        ref, ref_nlf = cls([cf], [r])((1, 640, w, 2), offset=offset, seed=0)
        ours = column_mask(pattern, w, r, center_fraction=cf, offset=offset)
        assert ours.num_low_frequencies == ref_nlf
        assert torch.equal(ours.mask, ref.reshape(-1).bool())

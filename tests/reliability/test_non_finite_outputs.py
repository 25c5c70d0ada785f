"""Finite inputs give finite outputs: repeated radar angles or frequencies (density weights
that once summed to zero), MRI and radar data in extreme units (float32 overflow in the RSS
and the NUFFT), and the writers' last guard, which refuses to publish NaN or Inf."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from discofold.data import write_radar_image, write_reconstruction
from discofold.data.radar_sim import density_weights
from discofold.errors import InputError
from discofold.operators import PolarRadar
from discofold.operators.radar import cell_widths

from ._files import cli_recon, mri_spec, radar_spec, write_raw

ONE_THREAD = True  # one torch thread per test (tests/conftest.py)

RADAR_METHODS = ("zf", "cg", "fista", "tv", "rd", "omp")
MRI_METHODS = ("zf", "cg", "fista", "tv")


def _recon(inp, method: str, key: str) -> tuple[int, str, np.ndarray | None]:
    """``recon`` of ``inp``; the output's ``key`` (``None`` if nothing was written)."""
    out = inp.with_name(f"out_{method}_{inp.name}")
    out.unlink(missing_ok=True)
    rc, err = cli_recon(inp, out, method)
    if not out.exists():
        return rc, err, None
    with h5py.File(out, "r") as f:
        return rc, err, f[key][()]


def _finite_or_one_line(rc: int, err: str, value) -> str:
    if rc == 0:
        assert value is not None and np.isfinite(value).all(), err
        return "exit 0, finite"
    assert rc == 2 and value is None and len(err.strip().splitlines()) == 1, (rc, err)
    return "exit 2, one line"


# --------------------------------------------------------------------------- radar geometry
def test_cell_widths_of_repeated_positions_share_their_cell():
    pts = torch.tensor([0.3, 0.0, 0.1, 0.1, 0.3, 0.3], dtype=torch.float64)
    w = cell_widths(pts)
    np.testing.assert_allclose(w.numpy(), [0.2 / 3, 0.1, 0.15 / 2, 0.15 / 2, 0.2 / 3, 0.2 / 3])
    torch.testing.assert_close(cell_widths(torch.full((4,), 2.0)), torch.full((4,), 0.25))
    u = torch.tensor([0.0, 0.5, 1.5, 2.0], dtype=torch.float64)  # distinct: the midpoint rule
    torch.testing.assert_close(cell_widths(u[[2, 0, 3, 1]]),
                               torch.tensor([0.75, 0.5, 0.5, 0.75], dtype=torch.float64))


@pytest.mark.parametrize("angles", [[0.0] * 5, [0.0, 0.0, 0.01, 0.01, 0.02]])
@pytest.mark.parametrize("freqs", [[1e10] * 4, [9e9, 9e9, 1e10, 1.1e10]])
def test_density_weights_of_repeated_samples_are_positive(angles, freqs):
    op = PolarRadar(torch.tensor(angles), torch.tensor(freqs), (6, 6), (4.0, 4.0))
    for w in (op.density_weights, density_weights(torch.tensor(angles), torch.tensor(freqs))):
        assert bool((w > 0).all()) and float(w.sum()) == pytest.approx(1.0)
    y = torch.ones(len(angles), len(freqs), dtype=torch.complex64)
    assert bool(torch.isfinite(torch.view_as_real(op.dc_adjoint(y))).all())


@pytest.mark.parametrize("what", ["all angles equal", "all frequencies equal",
                                  "some angles repeated", "some frequencies repeated"])
def test_radar_repeated_angles_or_frequencies(fault_log, tmp_path, what):
    fault_log.describe("numerical guard: non-finite output from finite input",
                       "radar files whose angles or frequencies repeat (all or some): every "
                       "method exits 0 with a finite image or exits 2 with one line; zf and rd "
                       "always succeed")
    spec = radar_spec()
    repeat = {"all angles equal": ("angles_rad", np.zeros(5)),
              "all frequencies equal": ("frequencies_hz", np.full(4, 1e10)),
              "some angles repeated": ("angles_rad", np.array([0, 0, 0.01, 0.01, 0.02])),
              "some frequencies repeated": ("frequencies_hz", np.array([9e9, 9e9, 1e10, 2e10]))}
    key, value = repeat[what]
    spec.data[key] = value
    path = write_raw(tmp_path / "r.h5", spec)
    for method in RADAR_METHODS:
        rc, err, image = _recon(path, method, "image")
        if method in ("zf", "rd"):
            assert rc == 0, err
        fault_log.case(_finite_or_one_line(rc, err, image))


# --------------------------------------------------------------------------- units
@pytest.mark.parametrize("variant", ["multicoil", "singlecoil", "noncartesian", "radar"])
@pytest.mark.parametrize("power", [64, 120, -100])
def test_data_in_extreme_units_scale_the_output_exactly(fault_log, tmp_path, variant, power):
    fault_log.describe("numerical guard: non-finite output from finite input",
                       "MRI k-space / radar echo multiplied by 2^64, 2^120, 2^-100 (k-space "
                       "above 1.8e19 once gave Inf, an echo above 1e27 NaN): every method "
                       "gives the output of the plain file times the same power of two, exactly "
                       "(omp: to 1e-5)")
    spec = radar_spec() if variant == "radar" else mri_spec(variant)
    data, key = ("echo", "image") if variant == "radar" else ("kspace", "reconstruction")
    plain = write_raw(tmp_path / "plain.h5", spec)
    spec.data[data] = spec.data[data] * np.float32(2.0 ** power)
    scaled = write_raw(tmp_path / "scaled.h5", spec)
    for method in RADAR_METHODS if variant == "radar" else MRI_METHODS:
        rc0, err0, ref = _recon(plain, method, key)
        rc, err, out = _recon(scaled, method, key)
        assert rc0 == rc == 0, (err0, err)
        expect = ref * np.float32(2.0 ** power)
        if method == "omp":  # LAPACK's least squares may round differently from call to call
            np.testing.assert_allclose(out, expect, rtol=1e-5, atol=1e-5 * np.abs(expect).max())
        else:
            np.testing.assert_array_equal(out, expect, err_msg=method)
        fault_log.case("exit 0, output scaled exactly")


# --------------------------------------------------------------------------- last guard
@pytest.mark.parametrize("kind", ["mri", "radar"])
def test_result_beyond_float32_is_refused(fault_log, tmp_path, kind):
    fault_log.describe("numerical guard: non-finite output from finite input",
                       "finite data near the float32 limit whose image exceeds it: exit 2, one "
                       "line naming the output file and key, nothing written")
    spec = radar_spec() if kind == "radar" else mri_spec("singlecoil")
    data, key = ("echo", "image") if kind == "radar" else ("kspace", "reconstruction")
    big = np.full(spec.data[data].shape, 3e38 + 3e38j, np.complex64)
    spec.data[data] = big * (spec.data["mask"] if kind == "mri" else 1)
    path = write_raw(tmp_path / "big.h5", spec)
    rc, err, out = _recon(path, "zf", key)
    assert rc == 2 and out is None and len(err.strip().splitlines()) == 1, (rc, err)
    assert "not finite" in err and f"out_zf_{path.name}" in err and f"'{key}'" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.h5"]
    fault_log.case("exit 2, one line, nothing written")


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e39])
def test_writers_refuse_non_finite_values(fault_log, tmp_path, bad):
    fault_log.describe("numerical guard: non-finite output from finite input",
                       "write_reconstruction / write_radar_image given NaN, Inf or a float64 "
                       "value beyond float32: InputError naming the file, nothing written")
    img = np.ones((2, 4, 3))
    img[1, 2, 1] = bad
    with pytest.raises(InputError, match=r"r\.h5', key 'reconstruction': 1 of 24"):
        write_reconstruction(tmp_path / "r.h5", img)
    with pytest.raises(InputError, match=r"i\.h5', key 'image': 1 of 24"):
        write_radar_image(tmp_path / "i.h5", img.astype(np.complex128), extent_m=(1.0, 1.0))
    assert list(tmp_path.iterdir()) == []
    fault_log.case("InputError")

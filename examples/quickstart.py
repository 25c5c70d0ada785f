"""Quick start: simulate, reconstruct and score one MRI slice and one radar frame.

Run:  python examples/quickstart.py      (about half a minute on a laptop CPU)

MRI: an 8-coil Shepp-Logan phantom, 4x Poisson-disc undersampling at 30 dB SNR, reconstructed by
zero-filling, CG-SENSE and TV.  Radar: a random point scene at preset S1 (10 GHz, 1 GHz, 5.7°,
128x128 over 19.2 m), 25 % random pulses at 20 dB SNR, imaged by the density-compensated adjoint
and by FISTA-l1.  Scores use discofold.metrics (fastMRI and radar definitions).
"""

import time

import torch

from discofold.data import (
    add_noise,
    birdcage_maps,
    point_scene,
    radar_preset,
    reference_image,
    shepp_logan,
    simulate_echo,
)
from discofold.metrics import psnr, radar_nmse_db, ssim
from discofold.operators import CartesianMRI, PolarRadar
from discofold.sampling import make_mask
from discofold.solvers import cg_sense, fista, tv, zero_filled


def mri_demo(rows):
    gen = torch.Generator().manual_seed(0)
    image = shepp_logan((128, 128)).to(torch.complex64)
    maps = birdcage_maps((128, 128), 8, generator=gen)
    pattern = make_mask("poisson_2d", (128, 128), 4, generator=gen)
    op = CartesianMRI(pattern.mask, maps)
    y, _ = add_noise(op(image), 30.0, generator=gen, mask=pattern.mask)
    target = image.abs()[None]
    for name, solve in [
        ("zero-filled", lambda: zero_filled(y, op)),
        ("CG-SENSE", lambda: cg_sense(y, op, lam=1e-3, max_iter=30)),
        ("TV (PDHG)", lambda: tv(y, op, lam=2e-3, max_iter=150)),
    ]:
        t0 = time.perf_counter()
        x = solve()
        dt = time.perf_counter() - t0
        est = x.abs()[None]
        rows.append(("MRI 4x poisson_2d", name, f"PSNR {psnr(target, est):5.2f} dB",
                     f"SSIM {ssim(target, est):.3f}", f"{dt:5.2f} s"))
    rows.append(("", f"(true acceleration {pattern.acceleration:.2f})", "", "", ""))


def radar_demo(rows):
    gen = torch.Generator().manual_seed(1)
    geom = radar_preset("S1")
    scene = point_scene(generator=gen, radius_m=6.0)
    full = simulate_echo(scene, geom)
    ref = reference_image(full, geom)
    aperture = make_mask("random_pulses", geom.data_shape, ratio=0.25, generator=gen)
    echo = simulate_echo(scene, geom, snr_db=20.0, mask=aperture.mask, generator=gen)
    op = PolarRadar(geom.angles_rad, geom.frequencies_hz, geom.image_shape, geom.extent_m,
                    mask=aperture.mask)
    for name, solve in [
        ("adjoint (DC)", lambda: zero_filled(echo.to(torch.complex64), op)),
        ("FISTA-l1", lambda: fista(echo.to(torch.complex64), op, lam=0.05 *
                                   float(op.A_adjoint(echo.to(torch.complex64)).abs().max()),
                                   transform="identity", max_iter=100)),
    ]:
        t0 = time.perf_counter()
        x = solve()
        dt = time.perf_counter() - t0
        rows.append(("Radar S1 25% pulses", name, f"NMSE {radar_nmse_db(ref, x):6.2f} dB", "",
                     f"{dt:5.2f} s"))


def main():
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows = []
    mri_demo(rows)
    radar_demo(rows)
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


if __name__ == "__main__":
    main()

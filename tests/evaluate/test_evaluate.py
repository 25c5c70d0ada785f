"""discofold.evaluate as a library: data specs, masks, metrics against direct formulas, tables,
figures and reports."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

from discofold.data import rss
from discofold.errors import InputError
from discofold.evaluate import (
    evaluate,
    evaluate_mri,
    evaluate_radar,
    load_data,
    markdown_table,
    render_report,
    save_evaluation,
    summarize,
)
from discofold.evaluate._data import parse_sim_spec
from discofold.operators import ifft2c
from discofold.sampling import make_mask, seed_from


def _np_nmse(t, p):
    t, p = np.asarray(t, np.float64), np.asarray(p, np.float64)
    return float(((t - p) ** 2).sum() / (t ** 2).sum())


def _np_psnr(t, p):
    t, p = np.asarray(t, np.float64), np.asarray(p, np.float64)
    return float(10 * np.log10(t.max() ** 2 / ((t - p) ** 2).mean()))


def _np_radar_nmse_db(ref, est):
    ref, est = np.asarray(ref, np.complex128), np.asarray(est, np.complex128)
    alpha = np.vdot(est, ref) / np.vdot(est, est)
    return float(10 * np.log10(np.sum(np.abs(alpha * est - ref) ** 2) / np.sum(np.abs(ref) ** 2)))


# --------------------------------------------------------------------------- data specs
def test_sim_spec_defaults_and_errors():
    kind, opts = parse_sim_spec("sim:mri?n=3&size=37x31")
    assert kind == "mri" and opts["n"] == "3" and opts["size"] == "37x31" and opts["coils"] == "8"
    with pytest.raises(InputError, match="did you mean 'coils'"):
        parse_sim_spec("sim:mri?coil=4")
    with pytest.raises(InputError, match="sim:mri or sim:radar"):
        parse_sim_spec("sim:ct?n=1")
    with pytest.raises(InputError, match="size"):
        load_data("sim:mri?size=abc")


def test_sim_mri_is_repeatable_and_fully_sampled():
    a = load_data("sim:mri?n=2&size=21x19&coils=3&slices=2&oversample=1")
    b = load_data("sim:mri?n=2&size=21x19&coils=3&slices=2&oversample=1")
    assert a.family == "mri"
    assert [v.name for v in a.volumes] == ["sim-mri-s0-0000", "sim-mri-s0-0001"]
    s1, s2 = a.volumes[1].read(1), b.volumes[1].read(1)
    assert torch.equal(s1.kspace, s2.kspace) and s1.kspace.shape == (3, 21, 19)
    # the target is the RSS of the fully sampled coil images (no mask applied yet)
    assert s1.mask is None
    torch.testing.assert_close(s1.target, rss(ifft2c(s1.kspace)).float(), rtol=1e-4, atol=1e-5)
    assert not torch.equal(a.volumes[0].read(0).kspace, s1.kspace)


def test_empty_folder_and_missing_path(tmp_path):
    with pytest.raises(InputError, match="holds no .h5 files"):
        load_data(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        load_data(tmp_path / "nope")


# --------------------------------------------------------------------------- MRI
def test_mri_rows_match_direct_formulas():
    data = load_data("sim:mri?n=2&size=33x29&coils=2&slices=2&oversample=1")
    res = evaluate_mri(None, data, ["equispaced", "poisson_2d"], [3.0], [])
    assert {r["method"] for r in res.rows} == {"zf"} and len(res.rows) == 4
    for row in res.rows:
        vol = next(v for v in data.volumes if v.name == row["volume"])
        targets, preds = [], []
        for i in range(vol.length):
            sl = vol.read(i)
            g = torch.Generator().manual_seed(seed_from(vol.name, i))
            mask = make_mask(row["pattern"], (33, 29), 3.0, generator=g).mask.bool()
            km = mask if mask.ndim == 2 else mask[None, :]
            zf = rss(ifft2c(sl.kspace * km))  # zero-filled: RSS of the coil images
            targets.append(sl.target.numpy())
            preds.append(zf.numpy())
        t, p = np.stack(targets), np.stack(preds)
        assert row["nmse"] == pytest.approx(_np_nmse(t, p), rel=1e-4)
        assert row["psnr"] == pytest.approx(_np_psnr(t, p), rel=1e-5)
        assert 0 < row["ssim"] < 1 and row["n_images"] == 2


def test_mri_model_sees_seeded_mask_and_scaled_output():
    """A model that returns the zero-filled single-coil image times 0.9 gets exactly the NMSE
    of 0.9 × zf; the mask it receives is the one seeded from (volume, slice)."""
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, y, op, meta):
            seen.append((op.mask.clone(), meta.pattern))
            return 0.9 * ifft2c(y)

    data = load_data("sim:mri?n=1&size=25x23&coils=0&slices=2&oversample=1")
    res = evaluate_mri(Probe(), data, ["random"], [2.0], [], label="probe")
    vol = data.volumes[0]
    masks = [make_mask("random", (25, 23), 2.0,
                       generator=torch.Generator().manual_seed(seed_from(vol.name, i))).mask
             for i in range(2)]
    assert all(torch.equal(m.reshape(-1), s[0].reshape(-1)) for m, s in zip(masks, seen[-2:]))
    t = np.stack([vol.read(i).target.numpy() for i in range(2)])
    zf = np.stack([ifft2c(vol.read(i).kspace * masks[i][None, :]).abs().numpy()
                   for i in range(2)])
    row = next(r for r in res.rows if r["method"] == "probe")
    assert row["nmse"] == pytest.approx(_np_nmse(t, 0.9 * zf), rel=1e-4)
    assert row["true_acceleration"] == pytest.approx(
        np.mean([23 / float(m.sum()) for m in masks]))


def test_summary_mean_and_sample_std():
    data = load_data("sim:mri?n=3&size=24x20&coils=0&oversample=1")
    res = evaluate_mri(None, data, ["equispaced"], [2.0, 3.0], [])
    for s in summarize(res.rows):
        vals = [r["psnr"] for r in res.rows if r["acceleration"] == s["acceleration"]]
        assert s["n"] == 3 and s["psnr_mean"] == pytest.approx(np.mean(vals))
        assert s["psnr_std"] == pytest.approx(np.std(vals, ddof=1))
    assert [e.acceleration for e in res.examples] == [2.0, 3.0]



def test_markdown_tables_keep_plain_names_and_neutralise_the_rest():
    data = load_data("sim:mri?n=2&size=24x20&coils=0&oversample=1")
    rows = evaluate_mri(None, data, ["equispaced"], [2.0], []).rows
    hostile = "ckpt|x <script>alert(1)</script> [a](b)\nnext"
    for r in rows:
        r["pattern"] = "equispaced_fraction"
    rows += [dict(r, method=hostile) for r in rows]
    table = markdown_table(summarize(rows))
    lines = table.splitlines()
    assert lines[0].startswith("**equispaced_fraction ")  # a plain name stays readable
    body = [ln for ln in lines if ln.startswith("|")]
    assert len({ln.count("|") - ln.count("\\|") for ln in body}) == 1  # no cell added
    assert "<script>" not in table and "&lt;script&gt;" in table and "[a](b)" not in table
    assert "| zf |" in table


# --------------------------------------------------------------------------- radar
def test_radar_rows_match_direct_formulas():
    data = load_data("sim:radar?n=1&size=16&seed=3&extent=9.6")
    res = evaluate_radar(None, data, ["random_pulses"], [2.0], ["pfa"])
    assert [r["method"] for r in res.rows] == ["zf", "pfa"]
    ex = res.examples[0]
    for m in ("zf", "pfa"):
        row = next(r for r in res.rows if r["method"] == m and r["volume"].endswith(":0"))
        assert row["nmse_db"] == pytest.approx(_np_radar_nmse_db(ex.target, ex.images[m]),
                                               abs=1e-6)
        power = ex.images[m].abs().double() ** 2
        p = (power / power.sum()).numpy()
        assert row["entropy"] == pytest.approx(float(-(p * np.log(np.maximum(p, 1e-300))).sum()),
                                               rel=1e-6)
    assert res.rows[0]["true_acceleration"] == pytest.approx(
        1 / make_mask("random_pulses", tuple(data.volumes[0].read(0).echo.shape), 2.0,
                      generator=torch.Generator().manual_seed(seed_from(data.volumes[0].name, 0))
                      ).mask.float().mean().item())


# --------------------------------------------------------------------------- outputs
def test_save_and_report(tmp_path):
    data = load_data("sim:mri?n=2&size=20x18&coils=0&oversample=1")
    res = evaluate(None, data, ["equispaced"], [2.0], baselines=[])
    files = save_evaluation(res, tmp_path)
    names = {f.name for f in files}
    assert {"metrics.csv", "metrics.json", "table_equispaced_x2.md", "fig_equispaced_x2.png",
            "metrics.md"} <= names
    doc = json.loads((tmp_path / "metrics.json").read_text())
    assert len(doc["rows"]) == 2 and doc["figures"] == {"equispaced_x2": "fig_equispaced_x2.png"}
    assert (tmp_path / "fig_equispaced_x2.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (tmp_path / "table_equispaced_x2.md").read_text()
    s = doc["summary"][0]
    assert f"{s['ssim_mean']:.4f} ± {s['ssim_std']:.4f}" in table
    html_path, md_path = render_report(tmp_path, tmp_path / "rep")
    html = html_path.read_text()
    links = re.findall(r'src="([^"]+)"', html)
    assert links and all((html_path.parent / link).is_file() for link in links)
    assert "![" in md_path.read_text()
    assert not math.isnan(s["psnr_mean"])


def test_report_of_training_run(tmp_path):
    (tmp_path / "train.csv").write_text("step,loss,lr\n1,0.5,0.001\n2,0.25,0.001\n")
    (tmp_path / "val.csv").write_text("step,val_loss,val_psnr_db,best\n2,0.3,20.0,1\n")
    html_path, md_path = render_report(tmp_path)
    assert (tmp_path / "loss.png").is_file() and 'src="loss.png"' in html_path.read_text()
    assert "Best validation loss 0.3 at step 2" in md_path.read_text()
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="neither metrics.json"):
        render_report(tmp_path / "empty")


def test_report_draws_the_learning_curve_of_a_validated_run(tmp_path):
    from discofold.evaluate._figures import best_row
    from discofold.evaluate._report import planned_files

    (tmp_path / "train.csv").write_text("step,loss,lr,grad_norm,samples_per_s,step_s,elapsed_s\n"
                                        "1,0.5,0.1,1,10,0.1,0.5\n2,0.4,0.1,1,10,0.1,0.6\n")
    (tmp_path / "val.csv").write_text("step,elapsed_s,val_loss,val_psnr_db,val_nmse_db,best\n")
    assert "learning.png" not in planned_files(tmp_path)  # no validation: no learning curve
    render_report(tmp_path, tmp_path / "none")
    assert not (tmp_path / "none" / "learning.png").exists()
    (tmp_path / "val.csv").write_text("step,elapsed_s,val_loss,val_psnr_db,val_nmse_db,best\n"
                                      "1,0.55,nan,nan,nan,False\n2,0.7,0.3,20.5,-12.25,True\n"
                                      "3,0.9,0.35,20.0,-12.0,False\n")
    assert best_row([{"val_loss": "nan"}, {"val_loss": ""}]) is None
    assert planned_files(tmp_path) == ["report.html", "report.md", "loss.png", "learning.png"]
    html_path, md_path = render_report(tmp_path, tmp_path / "rep")
    assert (tmp_path / "rep" / "learning.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert re.findall(r'src="([^"]+)"', html_path.read_text()) == ["loss.png", "learning.png"]
    md = md_path.read_text()
    # the best row is the lowest finite validation loss (the NaN row is skipped)
    assert "Best validation loss 0.3 at step 2 (PSNR 20.5 dB, NMSE -12.25 dB)" in md
    assert "![learning curve](learning.png)" in md

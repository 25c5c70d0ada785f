"""Hostile files: hypothesis fuzzing of both HDF5 readers (``FastMRIFile``, ``RadarH5Reader``)
and of ``discofold recon`` on the same files.

Every generated file ends in one of two ways: it reads (a mutation that keeps the layout valid),
or a :class:`~discofold.errors.DiscofoldError` whose message names the file (and the key, for
mutations of a key).  Anything else (an ``OSError``/``RuntimeError`` from h5py, a ``MemoryError``,
a ``ValueError`` from numpy) propagates and fails the test.  ``recon`` on the same file exits 0
with a readable output, or exits 2 with one line on stderr and writes nothing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from discofold.data.radar_io import load_echo_matrix
from discofold.errors import DiscofoldError, FormatError

from ._files import (
    Declared,
    cli_recon,
    memory_bound,
    mri_spec,
    radar_spec,
    read_outcome,
    write_raw,
)

FUZZ = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
MRI_VARIANTS = ("multicoil", "singlecoil", "noncartesian")
REQUIRED = {"mri": ("kspace",), "radar": ("echo", "angles_rad", "frequencies_hz")}
FLOATS = {"mri": ("kspace", "reconstruction_rss", "reconstruction_esc", "trajectory"),
          "radar": ("echo", "angles_rad", "frequencies_hz", "reference_image", "scatterers")}
DTYPES = ("int8", "uint16", "int64", "float16", "float32", "float64", "complex64",
          "complex128", "bool", "S3")


ONE_THREAD = True  # one torch thread per test (tests/conftest.py)


def _spec(kind: str, variant: int):
    return mri_spec(MRI_VARIANTS[variant % 3], variant) if kind == "mri" else radar_spec(variant)


def _check(path: Path, kind: str, log, must_fail: bool, key: str | None,
           names: set[str]) -> DiscofoldError | None:
    """Read ``path``, run ``recon zf`` on it, check the invariants, log the outcome."""
    err = read_outcome(path, kind)
    out = path.with_name("out_" + path.name)
    rc, stderr = cli_recon(path, out)
    if err is None:
        assert not must_fail, f"{path.name}: a broken file was accepted"
        assert rc in (0, 2), rc
        assert (rc == 0) == out.is_file(), (rc, stderr)
        log.case("accepted" if rc == 0 else "accepted by reader, refused by recon")
    else:
        msg = str(err)
        assert path.name in msg, f"message does not name the file: {msg}"
        if key is not None:
            assert key in msg or any(f"'{k}'" in msg for k in names), msg
        assert rc == 2 and not out.exists(), (rc, stderr)
        log.case(type(err).__name__)
    if rc == 2:
        assert len(stderr.strip().splitlines()) == 1 and "error:" in stderr, stderr
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    out.unlink(missing_ok=True)
    return err


def _run(kind: str, spec, log, must_fail: bool, key: str | None, variant: int):
    with tempfile.TemporaryDirectory() as tmp:
        path = write_raw(Path(tmp) / f"{kind}_{variant}.h5", spec)
        return _check(path, kind, log, must_fail, key, set(spec.data) | set(spec.attrs))


# --------------------------------------------------------------------------- key mutations
@pytest.mark.parametrize("kind", ["mri", "radar"])
@FUZZ
@given(data=st.data(), variant=st.integers(0, 5))
def test_missing_keys(fault_log, kind, data, variant):
    fault_log.describe(f"hostile {kind} file: missing key",
                       "hypothesis drops one dataset or attr of a valid file")
    spec = _spec(kind, variant)
    key = data.draw(st.sampled_from(sorted(spec.data) + sorted(spec.attrs)))
    (spec.data if key in spec.data else spec.attrs).pop(key)
    required = REQUIRED[kind] + (("extent_m", "image_shape") if kind == "radar" else ())
    must = key in required or (key == "matrix" and "trajectory" in spec.data)
    _run(kind, spec, fault_log, must, key if must else None, variant)


@pytest.mark.parametrize("kind", ["mri", "radar"])
@FUZZ
@given(data=st.data(), variant=st.integers(0, 5))
def test_wrong_dtypes_and_shapes(fault_log, kind, data, variant):
    fault_log.describe(f"hostile {kind} file: wrong dtype or shape",
                       "hypothesis recasts one dataset to another dtype (int, float16, complex, "
                       "bool, bytes) and/or gives it another shape (0 to 4 axes of 0 to 5)")
    spec = _spec(kind, variant)
    key = data.draw(st.sampled_from(sorted(spec.data)))
    old = spec.data[key]
    dtype = data.draw(st.sampled_from(DTYPES))
    if data.draw(st.booleans()):
        shape = tuple(data.draw(st.lists(st.integers(0, 5), max_size=4)))
    else:
        shape = old.shape
    rng = np.random.default_rng(variant)
    if dtype == "S3":
        new = np.full(shape, b"abc", dtype="S3")
    else:
        new = (rng.standard_normal(shape) * 2).astype(dtype)
    spec.data[key] = new
    changed = dtype != str(old.dtype) or shape != old.shape
    _run(kind, spec, fault_log, False, key if changed else None, variant)


@pytest.mark.parametrize("kind", ["mri", "radar"])
@FUZZ
@given(data=st.data(), variant=st.integers(0, 5))
def test_nan_and_inf_data(fault_log, kind, data, variant):
    fault_log.describe(f"hostile {kind} file: NaN/Inf data",
                       "hypothesis puts NaN, +Inf or -Inf at a random element of a float or "
                       "complex dataset; must be refused naming the key (NaN scatterer lobes, "
                       "which mean 'isotropic', must still be accepted)")
    spec = _spec(kind, variant)
    keys = sorted(k for k in spec.data if k in FLOATS[kind] or k == "scatterer_lobes")
    key = data.draw(st.sampled_from(keys))
    arr = spec.data[key]
    flat = data.draw(st.integers(0, arr.size - 1))
    bad = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    arr.reshape(-1)[flat] = bad if not np.iscomplexobj(arr) else complex(bad, 0)
    must = key != "scatterer_lobes"
    err = _run(kind, spec, fault_log, must, key if must else None, variant)
    if must:
        assert key in str(err)


ATTR_VALUES = st.one_of(
    st.text(st.characters(exclude_characters="\x00"), max_size=8),  # h5py cannot store NUL
    st.binary(max_size=8).map(lambda b: b.replace(b"\x00", b"\x01")), st.floats(),
    st.integers(-2**62, 2**62), st.booleans(),
    st.lists(st.floats(-1e9, 1e9), min_size=0, max_size=4).map(np.asarray),
    st.lists(st.integers(-5, 2**40), min_size=1, max_size=3).map(np.asarray),
    st.just(np.array([b"\xff\xfe", b"x"])), st.just(np.zeros((2, 2))),
    st.just(np.array([1 + 2j, 3.0])),
)


@pytest.mark.parametrize("kind", ["mri", "radar"])
@FUZZ
@given(data=st.data(), variant=st.integers(0, 5))
def test_attrs_of_the_wrong_type(fault_log, kind, data, variant):
    fault_log.describe(f"hostile {kind} file: attrs of the wrong type",
                       "hypothesis sets a documented attr to text, bytes (invalid UTF-8 too), "
                       "NaN/Inf, huge ints, arrays of the wrong length/dtype, complex values")
    spec = _spec(kind, variant)
    names = (["matrix", "max", "norm", "acquisition", "acceleration", "num_low_frequencies",
              "pattern"] if kind == "mri" else ["extent_m", "image_shape", "snr_db", "scenario"])
    key = data.draw(st.sampled_from(names))
    spec.attrs[key] = data.draw(ATTR_VALUES)
    _run(kind, spec, fault_log, False, key, variant)


# --------------------------------------------------------------------------- sizes
@pytest.mark.parametrize("kind", ["mri", "radar"])
@FUZZ
@given(data=st.data(), variant=st.integers(0, 5))
def test_declared_size_beyond_memory(fault_log, kind, data, variant):
    fault_log.describe(f"hostile {kind} file: declared size beyond memory",
                       "a chunked dataset declared with up to 2**40 elements per axis but no "
                       "storage; must be refused before allocation (tracemalloc peak < 16 MiB, "
                       "peak RSS growth < 256 MiB)")
    spec = _spec(kind, variant)
    key = data.draw(st.sampled_from(sorted(k for k in spec.data if k != "scatterer_lobes")))
    old = spec.data[key]
    big = data.draw(st.lists(st.sampled_from([2**20, 2**30, 2**40]), min_size=1,
                             max_size=min(2, old.ndim)))
    shape = list(old.shape)
    shape[-len(big):] = big
    spec.data[key] = Declared(tuple(shape), str(old.dtype))
    with memory_bound(16 << 20, 256 << 20):
        err = _run(kind, spec, fault_log, True, key, variant)
    assert isinstance(err, DiscofoldError)


@pytest.mark.parametrize("kind", ["mri", "radar"])
def test_size_guard_runs_before_allocation(fault_log, tmp_path, kind):
    fault_log.describe(f"hostile {kind} file: declared size beyond memory",
                       "a real 4 MiB dataset read with a 1 MiB limit: refused naming the key, "
                       "with less than the limit allocated")
    spec = _spec(kind, 0)
    key = "kspace" if kind == "mri" else "echo"
    if kind == "mri":  # one slice of 4 MiB
        spec.data = {"kspace": np.zeros((2, 1, 512, 1024), np.complex64)}
    else:  # one frame of 4 MiB
        spec.data = {"echo": np.zeros((2, 64, 8192), np.complex64),
                     "angles_rad": np.linspace(-0.1, 0.1, 64),
                     "frequencies_hz": np.linspace(9e9, 1e10, 8192)}
    path = write_raw(tmp_path / "big.h5", spec)
    limits = {"max_bytes": 1 << 20} if kind == "mri" else {"max_frame_bytes": 1 << 20}
    with memory_bound(1 << 20, 64 << 20):
        err = read_outcome(path, kind, **limits)
    assert isinstance(err, FormatError) and f"'{key}'" in str(err) and "big.h5" in str(err)
    fault_log.case(type(err).__name__)


# --------------------------------------------------------------------------- bytes
def _valid_bytes(kind: str, variant: int) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        return write_raw(Path(tmp) / "v.h5", _spec(kind, variant)).read_bytes()


@pytest.mark.parametrize("kind", ["mri", "radar"])
@FUZZ
@given(frac=st.floats(0.0, 0.999), variant=st.integers(0, 5))
def test_truncated_and_zero_byte_files(fault_log, kind, frac, variant):
    fault_log.describe(f"hostile {kind} file: truncated or zero-byte",
                       "a valid file cut at a random fraction of its length (0 = zero bytes)")
    raw = _valid_bytes(kind, variant)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cut.h5"
        path.write_bytes(raw[: int(frac * len(raw))])
        _check(path, kind, fault_log, True, None, set())


@pytest.mark.parametrize("kind", ["mri", "radar"])
@FUZZ
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
                      min_size=1, max_size=24), variant=st.integers(0, 5))
def test_corrupted_bytes(fault_log, kind, flips, variant):
    fault_log.describe(f"hostile {kind} file: corrupted bytes",
                       "1 to 24 random bytes of a valid file overwritten (headers, B-trees, "
                       "attribute messages, data)")
    raw = bytearray(_valid_bytes(kind, variant))
    for where, value in flips:
        raw[int(where * len(raw))] = value
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "flip.h5"
        path.write_bytes(bytes(raw))
        _check(path, kind, fault_log, False, None, set())


@pytest.mark.parametrize("kind", ["mri", "radar"])
@FUZZ
@given(body=st.binary(max_size=4096), hdf5_signature=st.booleans())
def test_not_an_hdf5_file(fault_log, kind, body, hdf5_signature):
    fault_log.describe(f"hostile {kind} file: not HDF5 but named .h5",
                       "random bytes, optionally behind the 8-byte HDF5 signature")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fake.h5"
        path.write_bytes((b"\x89HDF\r\n\x1a\n" if hdf5_signature else b"") + body)
        _check(path, kind, fault_log, True, None, set())


# --------------------------------------------------------------------------- foreign storage
def _foreign(path: Path, spec, key: str, how: str, other: Path) -> Path:
    """Write ``spec`` but make ``key`` read from ``other`` (outside the file)."""
    value = spec.data.pop(key)
    write_raw(other, type(spec)({key: value}))
    write_raw(path, spec)
    with h5py.File(path, "a") as f:
        if how == "external link":
            f[key] = h5py.ExternalLink(str(other), key)
        elif how == "external raw storage":
            raw = other.with_suffix(".raw")
            raw.write_bytes(np.ascontiguousarray(value).tobytes())
            f.create_dataset(key, shape=value.shape, dtype=value.dtype,
                             external=[(str(raw), 0, value.nbytes)])
        else:
            layout = h5py.VirtualLayout(shape=value.shape, dtype=value.dtype)
            layout[...] = h5py.VirtualSource(str(other), key, shape=value.shape)
            f.create_virtual_dataset(key, layout)
    return path


@pytest.mark.parametrize("kind", ["mri", "radar"])
@pytest.mark.parametrize("how", ["external link", "external raw storage", "virtual dataset"])
def test_data_stored_outside_the_file_is_refused(fault_log, tmp_path, kind, how):
    fault_log.describe(f"hostile {kind} file: data stored outside the file",
                       "the main dataset is an external link, external raw storage or a virtual "
                       "dataset (HDF5 would read another file on disk): refused naming the key")
    key = "kspace" if kind == "mri" else "echo"
    path = _foreign(tmp_path / "f.h5", _spec(kind, 0), key, how, tmp_path / "other.h5")
    err = _check(path, kind, fault_log, True, key, {key})
    assert f"'{key}'" in str(err) and "refused" in str(err)


def _hidden_link(path: Path, spec, key: str, how: str, other: Path) -> Path:
    """Write ``spec`` with ``key`` reached through soft links that end outside the file."""
    write_raw(other, type(spec)({key: spec.data.pop(key)}))
    write_raw(path, spec)
    with h5py.File(path, "a") as f:
        if how == "soft link to an external group":
            f["g"] = h5py.ExternalLink(str(other), "/")
            f[key] = h5py.SoftLink(f"/g/{key}")
        elif how == "chain of soft links":
            f["g"] = h5py.ExternalLink(str(other), "/")
            f["hop"] = h5py.SoftLink("g")
            f[key] = h5py.SoftLink(f"hop/{key}")
        elif how == "external link inside a group":
            f.create_group("inner")["x"] = h5py.ExternalLink(str(other), "/")
            f[key] = h5py.SoftLink(f"/inner/x/{key}")
        else:  # a loop of soft links
            f["loop"] = h5py.SoftLink(f"/{key}")
            f[key] = h5py.SoftLink("/loop")
    return path


HIDDEN = ("soft link to an external group", "chain of soft links",
          "external link inside a group", "soft link loop")


@pytest.mark.parametrize(("kind", "key"), [("mri", "kspace"), ("mri", "mask"),
                                           ("mri", "reconstruction_rss"), ("radar", "echo"),
                                           ("radar", "mask"), ("radar", "reference_image")])
@pytest.mark.parametrize("how", HIDDEN)
def test_links_leaving_the_file_through_soft_links(fault_log, tmp_path, kind, key, how):
    fault_log.describe(f"hostile {kind} file: data stored outside the file",
                       "a dataset reached through soft links whose path crosses an external "
                       "link (or a soft-link loop): refused naming the key, the other file is "
                       "never opened")
    other = tmp_path / "other.h5"
    path = _hidden_link(tmp_path / "f.h5", _spec(kind, 0), key, how, other)
    err = _check(path, kind, fault_log, True, key, {key})
    assert f"'{key}'" in str(err) and "refused" in str(err), err
    assert ("loop" in how) == ("soft links" in str(err)), err


@pytest.mark.parametrize("kind", ["mri", "radar"])
def test_soft_links_inside_the_file_still_read(fault_log, tmp_path, kind):
    fault_log.describe(f"hostile {kind} file: data stored outside the file",
                       "control: the main dataset is a soft link to a dataset inside the same "
                       "file; it reads like the plain file")
    spec, key = _spec(kind, 0), ("kspace" if kind == "mri" else "echo")
    value = spec.data.pop(key)
    path = write_raw(tmp_path / "f.h5", spec)
    with h5py.File(path, "a") as f:
        f.create_group("store").create_dataset(key, data=value)
        f[key] = h5py.SoftLink(f"store/{key}")
    assert _check(path, kind, fault_log, False, None, set()) is None


@pytest.mark.parametrize("how", ["external link", "soft link to an external group"])
def test_mat_v73_external_links_refused(fault_log, tmp_path, how):
    fault_log.describe("hostile measured-data file: data stored outside the file",
                       "a MATLAB v7.3 (HDF5) echo matrix that is an external link, or a soft "
                       "link through one: load_echo_matrix refuses naming the file and key")
    other = tmp_path / "other.mat"
    with h5py.File(other, "w") as f:
        f["data"] = np.ones((4, 3))
    path = tmp_path / "echo.mat"
    with h5py.File(path, "w", userblock_size=512) as f:
        if how == "external link":
            f["data"] = h5py.ExternalLink(str(other), "data")
        else:
            f["g"] = h5py.ExternalLink(str(other), "/")
            f["data"] = h5py.SoftLink("/g/data")
    for key in ("data", None):
        with pytest.raises(FormatError, match="refused") as info:
            load_echo_matrix(path, key=key)
        assert "echo.mat" in str(info.value) and "'data'" in str(info.value)
        fault_log.case("FormatError")

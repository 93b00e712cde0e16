#!/usr/bin/env python3
"""HDF5 test fixtures for the `ceras-hdf5` crate.

Usage:
    python tools/h5_fixtures.py [OUT_DIR]
        Writes small HDF5 files with h5py into OUT_DIR (default:
        crates/ceras-hdf5/tests/data) plus `manifest.json` describing what
        h5py reads back from each of them (the Rust tests compare their reader
        with it).

    python tools/h5_fixtures.py --check DIR
        Reads every file listed in DIR/manifest.json with h5py and checks that
        its content equals the manifest. Used to verify files produced by the
        Rust writer:
            CERAS_HDF5_CHECK_DIR=/tmp/h5check cargo test -p ceras-hdf5 --test h5py_fixtures
            python tools/h5_fixtures.py --check /tmp/h5check

Manifest format (one entry per file):
    {"files": {"name.h5": {
        "error": null | "unsupported",      # expected outcome of the Rust reader
        "groups":   {"/path": {"attrs": ATTRS}, ...},
        "datasets": {"/path": {"dtype": "f4"|"i8"|"u2"|"S5"|"V2"|...,
                               "shape": [..], "hex": "<little-endian C-order bytes>",
                               "attrs": ATTRS}, ...}}}}
    ATTRS = {"name": {"t": "str"|"strlist"|"f64"|"i64", "v": value}, ...}

Requires h5py and numpy.
"""

import json
import os
import sys

import h5py
import numpy as np

# ---------------------------------------------------------------------------
# h5py view of a file -> manifest entry
# ---------------------------------------------------------------------------


def _s(b):
    if isinstance(b, bytes):
        return b.decode("utf-8", "replace")
    return str(b)


def attr_json(v):
    """h5py attribute value -> {"t", "v"} or None when not representable."""
    if isinstance(v, str):
        return {"t": "str", "v": v}
    if isinstance(v, (bytes, np.bytes_)):
        return {"t": "str", "v": _s(bytes(v))}
    a = np.asarray(v)
    if a.dtype.kind == "S":
        if a.ndim == 0:
            return {"t": "str", "v": _s(a.item())}
        return {"t": "strlist", "v": [_s(x) for x in a.ravel().tolist()]}
    if a.dtype.kind in "OU":
        if a.ndim == 0:
            return {"t": "str", "v": _s(a.item())}
        return {"t": "strlist", "v": [_s(x) for x in a.ravel().tolist()]}
    if a.dtype.kind == "f":
        return {"t": "f64", "v": [float(x) for x in a.ravel().tolist()]}
    if a.dtype.kind in "iu":
        return {"t": "i64", "v": [int(x) for x in a.ravel().tolist()]}
    return None


def attrs_json(obj):
    out = {}
    for k in obj.attrs.keys():
        j = attr_json(obj.attrs[k])
        if j is not None:
            out[k] = j
    return out


def dtype_code(dt):
    if dt.kind in "fiu":
        return f"{dt.kind}{dt.itemsize}"
    if dt.kind == "S":
        return f"S{dt.itemsize}"
    if dt.kind == "V":
        return f"V{dt.itemsize}"
    raise ValueError(f"unsupported dtype {dt}")


def dataset_json(ds):
    arr = np.asarray(ds[()])
    dt = arr.dtype
    if dt.kind in "fiu":
        arr = arr.astype(dt.newbyteorder("<"))
    return {
        "dtype": dtype_code(dt),
        "shape": list(ds.shape),
        "hex": np.ascontiguousarray(arr).tobytes().hex(),
        "attrs": attrs_json(ds),
    }


def dump(path):
    groups, datasets = {}, {}
    with h5py.File(path, "r") as f:
        groups["/"] = {"attrs": attrs_json(f)}

        def visit(name, obj):
            p = "/" + name
            if isinstance(obj, h5py.Group):
                groups[p] = {"attrs": attrs_json(obj)}
            elif isinstance(obj, h5py.Dataset):
                datasets[p] = dataset_json(obj)

        # walk links (not objects): a hard-linked object appears under every
        # name, like the Rust reader's tree
        def walk(g, prefix, depth):
            for k in g.keys():
                obj = g[k]
                visit(prefix + k, obj)
                if isinstance(obj, h5py.Group) and depth < 64:
                    walk(obj, prefix + k + "/", depth + 1)

        walk(f, "", 0)
    return {"error": None, "groups": groups, "datasets": datasets}


# ---------------------------------------------------------------------------
# Fixture files
# ---------------------------------------------------------------------------


def rng_array(rng, shape, dtype):
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return (rng.standard_normal(shape) * 10).astype(dt)
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, size=shape, dtype=dt.newbyteorder("="), endpoint=True).astype(dt)


def make_default_dtypes(path, rng):
    with h5py.File(path, "w") as f:
        g = f.create_group("num")
        for code in ["<f2", "<f4", "<f8", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8"]:
            g[code.strip("<|")] = rng_array(rng, (3, 4), code)
        be = f.create_group("big_endian")
        for code in [">f2", ">f4", ">f8", ">i2", ">i4", ">i8", ">u2", ">u4", ">u8"]:
            be[code.strip(">")] = rng_array(rng, (5,), code)
        f["scalar_f4"] = np.float32(3.25)
        f["scalar_i4"] = np.int32(-7)
        f["scalar_f8_be"] = np.array(2.5, dtype=">f8")
        f["cube"] = rng_array(rng, (2, 3, 4), "<f4")
        f["strings"] = np.array([b"alpha", b"be", b"", b"gamma"], dtype="S5")
        bf16 = (rng_array(rng, (6,), "<f4").view("<u4") >> 16).astype("<u2").view("|V2")
        d = f.create_dataset("bf16", data=bf16)
        d.attrs["dtype"] = "bfloat16"
        f.create_dataset("empty", shape=(0,), dtype="<f4")
        f.create_dataset("empty2d", shape=(3, 0), dtype="<i8")
        f.create_dataset("unwritten", shape=(4,), dtype="<i4", fillvalue=7)
        # attributes of every kind
        f.attrs["vlen_str"] = "hello"
        f.attrs["vlen_unicode"] = "h\u00e9llo \u2603"
        f.attrs["vlen_empty"] = ""
        f.attrs["fixed_str"] = np.bytes_(b"fixed")
        f.attrs["fixed_str_array"] = np.array([b"one", b"three", b"x"])
        f.attrs["vlen_str_array"] = ["a", "bc", "def"]
        f.attrs["f8_scalar"] = 1.5
        f.attrs["f4_array"] = np.array([0.5, -2.0, 1e-3], dtype="<f4")
        f.attrs["f8_be"] = np.array([1.25, 3.0], dtype=">f8")
        f.attrs["i8_scalar"] = np.int64(-42)
        f.attrs["i4_array"] = np.array([1, -2, 3], dtype="<i4")
        f.attrs["u1_array"] = np.array([0, 255], dtype="|u1")
        f.attrs["i2_be"] = np.array([-300, 300], dtype=">i2")
        f.attrs["f2_scalar"] = np.float16(0.333)
        f.attrs["two_by_two"] = np.array([[1.0, 2.0], [3.0, 4.0]])
        g.attrs["name"] = "num"


def make_group200(path, rng):
    with h5py.File(path, "w") as f:
        g = f.create_group("many")
        # 200 members (hard links to 10 distinct datasets keep the file small)
        for i in range(10):
            g[str(i)] = np.int32(i)
        for i in range(10, 200):
            g[str(i)] = g[str(i % 10)]
        g.attrs["name"] = "many"
        sub = f.create_group("many_groups")
        for i in range(12):
            sub.create_group(f"g{i:03d}").attrs["i"] = i


def make_latest(path, rng):
    with h5py.File(path, "w", libver="latest") as f:
        f.attrs["name"] = "latest"
        w = f.create_group("layers/dense/vars")
        w.attrs["name"] = "dense"
        w["0"] = rng_array(rng, (4, 3), "<f4")
        w["1"] = rng_array(rng, (3,), "<f4")
        # dense link storage (> 8 links) and dense attribute storage (> 8 attrs)
        d = f.create_group("dense_links")
        for i in range(20):
            d[f"d{i}"] = np.int16(i)
        big = f.create_group("dense_links_big")
        for i in range(200):
            big.create_group(f"member_{i:04d}")
        a = f.create_group("dense_attrs")
        for i in range(12):
            a.attrs[f"attr{i:02d}"] = i * 1.5
        a.attrs["long_string"] = "x" * 300
        # chunked datasets (fixed-array / single-chunk indexes)
        x = rng_array(rng, (10, 7), "<f4")
        f.create_dataset("chunked_gzip_shuffle", data=x, chunks=(4, 3), compression="gzip", shuffle=True)
        f.create_dataset("chunked_gzip", data=rng_array(rng, (9,), "<i8"), chunks=(4,), compression="gzip")
        f.create_dataset("chunked_plain", data=rng_array(rng, (6, 5), "<i2"), chunks=(2, 2))
        f.create_dataset("single_chunk", data=rng_array(rng, (3, 3), "<f8"), chunks=(3, 3), compression="gzip")
        f.create_dataset("fletcher", data=rng_array(rng, (8,), "<u2"), chunks=(3,), fletcher32=True)
        f.create_dataset("paged", data=(np.arange(1100) % 251).astype("|u1"), chunks=(1,))
        f["contig"] = rng_array(rng, (5,), ">i4")
        f["scalar"] = np.float64(6.5)


def make_chunked_earliest(path, rng):
    with h5py.File(path, "w") as f:
        f.create_dataset("gzip", data=rng_array(rng, (5, 7), "<f4"), chunks=(2, 3), compression="gzip")
        f.create_dataset("gzip_shuffle", data=rng_array(rng, (3, 4, 5), "<f8"), chunks=(2, 2, 2),
                         compression="gzip", compression_opts=9, shuffle=True)
        f.create_dataset("plain", data=rng_array(rng, (11,), "<i4"), chunks=(4,))
        f.create_dataset("many_chunks", data=rng_array(rng, (300,), "<i2"), chunks=(1,))
        f.create_dataset("big_endian", data=rng_array(rng, (6,), ">f4"), chunks=(4,), compression="gzip")
        p = f.create_dataset("partial", shape=(10,), dtype="<i4", chunks=(3,), fillvalue=-1)
        p[0:3] = [1, 2, 3]
        p[9] = 9
        f.create_dataset("fletcher_gzip", data=rng_array(rng, (7,), "<i4"), chunks=(4,),
                         compression="gzip", fletcher32=True)


def make_compact(path, rng):
    with h5py.File(path, "w") as f:
        arr = np.arange(6, dtype="<i4").reshape(2, 3)
        space = h5py.h5s.create_simple(arr.shape)
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        dsid = h5py.h5d.create(f.id, b"compact", h5py.h5t.STD_I32LE, space, dcpl=dcpl)
        dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, arr)
        dsid.close()
        f["compact"].attrs["note"] = "compact layout"
        f["regular"] = np.arange(3, dtype="<f8")


def make_keras2_legacy(path, rng):
    cfg = json.dumps({"class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"class_name": "Dense", "config": {"name": "dense", "units": 3}},
        {"class_name": "Dense", "config": {"name": "dense_1", "units": 2}}]}})
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.13.1"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = cfg.encode("utf8")
        f.attrs["training_config"] = json.dumps({"loss": "mse"}).encode("utf8")
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([b"dense", b"dense_1"])
        mw.attrs["backend"] = b"tensorflow"
        mw.attrs["keras_version"] = b"2.13.1"
        for name, (i, o) in [("dense", (4, 3)), ("dense_1", (3, 2))]:
            g = mw.create_group(name)
            g.attrs["weight_names"] = np.array([f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()])
            inner = g.create_group(name)
            inner["kernel:0"] = rng_array(rng, (i, o), "<f4")
            inner["bias:0"] = rng_array(rng, (o,), "<f4")
        ow = f.create_group("optimizer_weights")
        ow.attrs["weight_names"] = np.array([b"Adam/iter:0"])
        ow.create_group("Adam")["iter:0"] = np.int64(12)


def make_userblock(path, rng):
    with h5py.File(path, "w", userblock_size=512) as f:
        f["x"] = np.arange(4, dtype="<u2")
        f.attrs["name"] = "userblock"


def make_softlink(path, rng):
    with h5py.File(path, "w") as f:
        f["target"] = np.arange(2, dtype="<i4")
        f["link"] = h5py.SoftLink("/target")


def make_extlink(path, rng):
    with h5py.File(path, "w", libver="latest") as f:
        f["target"] = np.arange(2, dtype="<i4")
        f["ext"] = h5py.ExternalLink("other.h5", "/x")


FIXTURES = [
    ("default_dtypes.h5", make_default_dtypes, None),
    ("group200.h5", make_group200, None),
    ("latest.h5", make_latest, None),
    ("chunked_earliest.h5", make_chunked_earliest, None),
    ("compact.h5", make_compact, None),
    ("keras2_legacy.h5", make_keras2_legacy, None),
    ("userblock.h5", make_userblock, None),
    ("softlink.h5", make_softlink, "unsupported"),
    ("extlink_latest.h5", make_extlink, "unsupported"),
]


def generate(out):
    os.makedirs(out, exist_ok=True)
    files = {}
    for i, (name, fn, err) in enumerate(FIXTURES):
        rng = np.random.default_rng(1234 + i)
        path = os.path.join(out, name)
        fn(path, rng)
        if err is None:
            files[name] = dump(path)
        else:
            files[name] = {"error": err, "groups": {}, "datasets": {}}
    with open(os.path.join(out, "manifest.json"), "w") as fh:
        json.dump({"files": files}, fh, indent=1, sort_keys=True)
        fh.write("\n")
    total = sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out))
    print(f"wrote {len(files)} files + manifest.json to {out} ({total} bytes)")


# ---------------------------------------------------------------------------
# --check
# ---------------------------------------------------------------------------


def _close(a, b):
    if a["t"] != b["t"]:
        return False
    if a["t"] == "f64":
        return len(a["v"]) == len(b["v"]) and all(
            x == y or (x != x and y != y) for x, y in zip(a["v"], b["v"]))
    return a["v"] == b["v"]


def compare(name, got, want):
    errs = []
    for kind in ("groups", "datasets"):
        g, w = got[kind], want[kind]
        for p in sorted(set(g) | set(w)):
            if p not in g:
                errs.append(f"{name}: {kind[:-1]} {p} missing (h5py does not see it)")
                continue
            if p not in w:
                errs.append(f"{name}: unexpected {kind[:-1]} {p}")
                continue
            if kind == "datasets":
                for key in ("dtype", "shape", "hex"):
                    if g[p][key] != w[p][key]:
                        gv, wv = str(g[p][key]), str(w[p][key])
                        errs.append(f"{name}: {p}: {key} differs: h5py {gv[:80]!r} vs expected {wv[:80]!r}")
            ga, wa = g[p]["attrs"], w[p]["attrs"]
            for k in sorted(set(ga) | set(wa)):
                if k not in ga or k not in wa or not _close(ga[k], wa[k]):
                    errs.append(f"{name}: {p} @{k}: h5py {ga.get(k)!r} vs expected {wa.get(k)!r}")
    return errs


def check(d):
    with open(os.path.join(d, "manifest.json")) as fh:
        manifest = json.load(fh)["files"]
    errs = []
    nobj = 0
    for name, want in sorted(manifest.items()):
        try:
            got = dump(os.path.join(d, name))
        except Exception as e:  # noqa: BLE001
            errs.append(f"{name}: h5py cannot read it: {e!r}")
            continue
        nobj += len(got["groups"]) + len(got["datasets"])
        errs += compare(name, got, want)
    for e in errs:
        print("MISMATCH", e)
    print(f"checked {len(manifest)} files ({nobj} objects) with h5py {h5py.__version__} "
          f"(HDF5 {h5py.version.hdf5_version}): {'OK' if not errs else f'{len(errs)} problems'}")
    return 0 if not errs else 1


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2]))
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "crates", "ceras-hdf5", "tests", "data")
    generate(os.path.normpath(sys.argv[1] if len(sys.argv) > 1 else default))

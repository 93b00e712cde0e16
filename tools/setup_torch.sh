#!/bin/sh
# Installs libtorch for the `torch` backend (cargo feature "torch") from PyPI,
# once, into target/libtorch, and prints that directory (the LIBTORCH the build
# uses; .cargo/config.toml points there) on the last line of stdout.
#
# libtorch comes from PyPI's `torch` wheel: `tch` 0.26 pairs with torch==2.13.0.
# Its CPU library links the CUDA runtime and CUPTI, so those two small wheels
# come too, and nothing else of the CUDA stack: only the CPU part of libtorch is
# unpacked (`torch/lib/libtorch_cpu.so` & co, headers). Set CERAS_TORCH_CUDA=1 to
# unpack libtorch's CUDA libraries as well and install the CUDA wheels torch
# depends on (cuBLAS, cuDNN, ...: several GB), for machines with an NVIDIA GPU.
#
# Layout: target/libtorch/torch/{lib,include,share} and
# target/libtorch/nvidia/cu13/lib, as in site-packages, so libtorch's own RPATH
# ($ORIGIN/../../nvidia/cu13/lib) finds the CUDA runtime with no
# LD_LIBRARY_PATH. The binaries ceras builds carry an rpath to torch/lib (see
# build.rs).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
dest="${CERAS_LIBTORCH_DIR:-$here/target/libtorch}"
torch_version="2.13.0"
# The versions torch 2.13.0's cuda-toolkit==13.0.3 pins for cudart and cupti.
cudart="nvidia-cuda-runtime==13.0.96.*"
cupti="nvidia-cuda-cupti==13.0.85.*"
cuda="${CERAS_TORCH_CUDA:-0}"
stamp="$dest/.ceras-libtorch-$torch_version-cuda$cuda"

if [ -f "$stamp" ] && [ -f "$dest/torch/lib/libtorch_cpu.so" ]; then
    echo "$dest/torch"
    exit 0
fi
case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) ;;
    *) echo "setup_torch.sh: only Linux x86_64 is scripted; install libtorch $torch_version yourself and set LIBTORCH" >&2
       exit 1 ;;
esac

wheels="$dest.wheels"
rm -rf "$dest" "$wheels"
mkdir -p "$wheels"
echo "setup_torch.sh: downloading torch==$torch_version and the CUDA runtime wheels from PyPI ..." >&2
python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: \
    -d "$wheels" "torch==$torch_version" "$cudart" "$cupti" >&2

echo "setup_torch.sh: unpacking libtorch into $dest ..." >&2
python3 - "$wheels" "$dest" "$cuda" <<'PY' >&2
import pathlib, sys, zipfile
wheels, dest, cuda = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3] == "1"
# Only what building and running against libtorch needs; the CUDA libraries only on request.
cuda_libs = ("libtorch_cuda", "libc10_cuda", "libcaffe2_nvrtc", "libtorch_nvshmem")
skip = ("libtorch_python.so",)
for whl in sorted(wheels.glob("*.whl")):
    with zipfile.ZipFile(whl) as z:
        for info in z.infolist():
            name = info.filename
            if name.endswith("/"):
                continue
            if name.startswith("torch/"):
                keep = name.startswith(("torch/include/", "torch/share/cmake/", "torch/lib/"))
                base = name.rsplit("/", 1)[-1]
                if base in skip or (not cuda and base.startswith(cuda_libs)):
                    keep = False
                if name in ("torch/version.py",):
                    keep = True
            else:
                keep = name.startswith("nvidia/")
            if not keep:
                continue
            out = dest / name
            out.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, open(out, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                out.chmod(mode)
PY
if [ "$cuda" = "1" ]; then
    # The rest of the CUDA stack torch depends on, into the same site-packages layout.
    python3 -m pip install --quiet --disable-pip-version-check --target "$dest" \
        --only-binary=:all: "cuda-toolkit[cublas,cudart,cufft,cufile,cupti,curand,cusolver,cusparse,nvjitlink,nvrtc,nvtx]==13.0.3" \
        "nvidia-cudnn-cu13==9.20.0.48" "nvidia-cusparselt-cu13==0.8.1" \
        "nvidia-nccl-cu13==2.29.7" "nvidia-nvshmem-cu13==3.4.5" >&2
fi
rm -rf "$wheels"
test -f "$dest/torch/lib/libtorch_cpu.so"
echo "$torch_version+cu130" > "$dest/torch/build-version"
touch "$stamp"
echo "$dest/torch"

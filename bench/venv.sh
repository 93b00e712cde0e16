#!/bin/sh
# Makes (once) the Python virtual environment of bench/peers.py: Keras 3 with
# its JAX and PyTorch backends, plain PyTorch, matplotlib (for the plot), all
# for the CPU. Prints the venv's python on the last line of stdout.
# The venv lives in target/bench-venv (BENCH_VENV overrides) and is reused
# while its imports work.
#
# torch comes from PyPI's Linux wheel without its dependencies: those pull
# several GB of CUDA wheels (cuBLAS, cuDNN, NCCL, triton, ...) that a CPU run
# never calls. Installed instead: its pure-Python dependencies (the wheel's
# Requires-Dist) and the two small CUDA wheels its CPU library links against,
# the CUDA runtime and CUPTI, as in tools/setup_torch.sh. `import torch` still
# loads libtorch_cuda.so (torch._C links it), whose other CUDA libraries are
# then stand-ins built here with cc: each defines, with the right symbol
# versions, just the symbols torch's libraries import from it, as functions
# that abort with a message if ever called. They sit in
# site-packages/nvidia/cu13/lib, on torch's RPATH. Needs cc and readelf.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
venv="${BENCH_VENV:-$here/target/bench-venv}"
py="$venv/bin/python"
# Importing keras loads a backend: name one, and keep Keras off ~/.keras.
export KERAS_BACKEND=jax
KERAS_HOME=$(mktemp -d)
export KERAS_HOME
trap 'rm -rf "$KERAS_HOME"' EXIT

if [ -x "$py" ] && "$py" -c "import keras, jax, torch, matplotlib" >/dev/null 2>&1; then
    echo "$py"
    exit 0
fi

torch_version="2.13.0"
# The versions torch 2.13.0's cuda-toolkit==13.0.3 pins for cudart and cupti.
cudart="nvidia-cuda-runtime==13.0.96.*"
cupti="nvidia-cuda-cupti==13.0.85.*"
# A torch wheel an interrupted tools/setup_torch.sh left behind saves a 500 MB
# download (PIP_FIND_LINKS can name other wheel folders).
if [ -d "$here/target/libtorch.wheels" ]; then
    PIP_FIND_LINKS="${PIP_FIND_LINKS:+$PIP_FIND_LINKS }$here/target/libtorch.wheels"
    export PIP_FIND_LINKS
fi

echo "bench/venv.sh: creating $venv (keras, jax, torch for the CPU, matplotlib) ..." >&2
rm -rf "$venv"
python3 -m venv "$venv" >&2
pip() { "$py" -m pip --quiet --disable-pip-version-check "$@" >&2; }
pip install --only-binary=:all: \
    "keras==3.15.1" "jax[cpu]==0.10.2" numpy matplotlib \
    filelock "typing-extensions>=4.10.0" "setuptools>=77.0.3" "sympy>=1.13.3" \
    "networkx>=2.5.1" jinja2 "fsspec>=0.8.5"
pip install --only-binary=:all: --no-deps "torch==$torch_version" "$cudart" "$cupti"

site=$("$py" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
"$py" - "$site" <<'PY' >&2
"""Builds stand-ins for the CUDA libraries torch._C links but the venv lacks."""
import collections, ctypes, glob, os, re, subprocess, sys, tempfile

site = sys.argv[1]
libdir = os.path.join(site, "nvidia", "cu13", "lib")
search = [os.path.join(site, "torch", "lib"), libdir]

def readelf(*args):
    return subprocess.run(["readelf", "-W", *args], check=True,
                          capture_output=True, text=True).stdout

# What `import torch` loads: torch._C and its NEEDED closure in the venv, and
# the NEEDED names found nowhere (the stand-ins to build). System libraries
# are loaded so that their symbols can be looked up below.
loaded, todo, missing, system = [], glob.glob(os.path.join(site, "torch", "_C*.so")), set(), []
while todo:
    path = todo.pop()
    if path in loaded:
        continue
    loaded.append(path)
    for name in re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", readelf("-d", path)):
        found = [os.path.join(d, name) for d in search if os.path.exists(os.path.join(d, name))]
        if found:
            todo.append(found[0])
            continue
        try:
            system.append(ctypes.CDLL(name))
        except OSError:
            missing.add(name)

# Undefined symbols (name -> version) and definitions of the loaded libraries;
# which library each needed version belongs to.
undefined, defined, version_file = {}, set(), {}
for path in loaded:
    for line in readelf("--dyn-syms", path).splitlines():
        f = line.split()
        if len(f) < 8 or not f[0].endswith(":"):
            continue
        name, _, version = f[7].partition("@")
        if f[6] != "UND":
            defined.add(name)
        elif f[4] != "WEAK":
            undefined[name] = version.lstrip("@") or None
    current = None  # readelf -V: definitions, then needs grouped by File:
    for line in readelf("-V", path).splitlines():
        if m := re.search(r"File: (\S+)", line):
            current = m.group(1)
        elif (m := re.search(r"Name: (\S+)", line)) and current:
            version_file[m.group(1)] = current

# Versioned symbols go to the library their version names; unversioned ones
# nothing loaded defines (NCCL, cuFile, cuSPARSELt) to every unversioned stand-in.
versioned = collections.defaultdict(lambda: collections.defaultdict(list))
loose = []
scopes = [ctypes.CDLL(None), *system]
for name, version in sorted(undefined.items()):
    if version is not None:
        if version_file.get(version) in missing:
            versioned[version_file[version]][version].append(name)
    elif name not in defined and not any(hasattr(h, name) for h in scopes):
        loose.append(name)

with tempfile.TemporaryDirectory() as tmp:
    for soname in sorted(missing):
        nodes = versioned.get(soname, {})
        names = [n for v in nodes.values() for n in v] if nodes else loose
        src = os.path.join(tmp, "stub.c")
        with open(src, "w") as c:
            c.write("#include <stdio.h>\n#include <stdlib.h>\n"
                    "static void stub(const char *f) {\n"
                    f'    fprintf(stderr, "%s: {soname} is a stand-in in this CPU-only venv (bench/venv.sh)\\n", f);\n'
                    "    abort();\n}\n")
            for i, n in enumerate(names):
                c.write(f'void s{i}(void) __asm__("{n}");\nvoid s{i}(void) {{ stub("{n}"); }}\n')
        cmd = ["cc", "-shared", "-fPIC", "-O0", "-o", os.path.join(libdir, soname),
               f"-Wl,-soname,{soname}", src]
        if nodes:
            script = os.path.join(tmp, "stub.map")
            with open(script, "w") as m:
                for version, syms in nodes.items():
                    m.write(f"{version} {{ global: {'; '.join(syms)}; }};\n")
            cmd.append(f"-Wl,--version-script={script}")
        subprocess.run(cmd, check=True)
        print(f"bench/venv.sh: stand-in {soname} ({len(names)} symbols)")
PY
"$py" -c "import torch; print(torch.randn(2, 2) @ torch.randn(2, 2))" >&2
KERAS_BACKEND=torch "$py" -c "import keras; assert keras.backend.backend() == 'torch'" >&2
"$py" -c "import keras, jax, torch, matplotlib" >&2
echo "$py"

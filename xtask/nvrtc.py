#!/usr/bin/env python3
"""Compiles a CUDA C++ file to PTX with NVRTC, for `cargo xtask kernels` on machines without nvcc.

NVRTC comes from the PyPI wheel `nvidia-cuda-nvrtc-cu12` (pinned in .ci/run) and runs with no GPU
and no driver. Usage: nvrtc.py SOURCE.cu OUT.ptx [--arch compute_90]
"""
import ctypes
import glob
import os
import sys


def load_nvrtc():
    import nvidia.cuda_nvrtc  # the wheel's namespace package

    for root in nvidia.cuda_nvrtc.__path__:
        for lib in sorted(glob.glob(os.path.join(root, "lib", "libnvrtc.so*"))):
            if "builtins" not in lib:
                return ctypes.CDLL(lib)
    sys.exit("libnvrtc.so not found in the nvidia-cuda-nvrtc-cu12 wheel")


def main():
    args = sys.argv[1:]
    arch = "compute_90"
    if "--arch" in args:
        i = args.index("--arch")
        arch = args[i + 1]
        del args[i : i + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    src_path, out_path = args
    nvrtc = load_nvrtc()
    major, minor = ctypes.c_int(), ctypes.c_int()
    nvrtc.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
    src = open(src_path, "rb").read()
    prog = ctypes.c_void_p()
    name = os.path.basename(src_path).encode()
    if nvrtc.nvrtcCreateProgram(ctypes.byref(prog), src, name, 0, None, None) != 0:
        sys.exit("nvrtcCreateProgram failed")
    opts = [f"--gpu-architecture={arch}".encode(), b"--std=c++17", b"-default-device", b"--fmad=true"]
    arr = (ctypes.c_char_p * len(opts))(*opts)
    rc = nvrtc.nvrtcCompileProgram(prog, len(opts), arr)
    size = ctypes.c_size_t()
    nvrtc.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    nvrtc.nvrtcGetProgramLog(prog, log)
    if rc != 0:
        sys.stderr.write(log.value.decode(errors="replace"))
        sys.exit(f"{src_path}: NVRTC {major.value}.{minor.value} failed to compile")
    if log.value.strip():
        sys.stderr.write(log.value.decode(errors="replace"))
    nvrtc.nvrtcGetPTXSize(prog, ctypes.byref(size))
    ptx = ctypes.create_string_buffer(size.value)
    nvrtc.nvrtcGetPTX(prog, ptx)
    with open(out_path, "wb") as f:
        f.write(ptx.value)
    print(f"{src_path} -> {out_path}: NVRTC {major.value}.{minor.value}, {arch}, {len(ptx.value)} bytes")


if __name__ == "__main__":
    main()

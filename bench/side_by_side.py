#!/usr/bin/env python3
"""vkllm beside llama.cpp on identical weights, in one run, with ratios.

    bench/side_by_side.py [--build build/release] [--models random134m,bundled]
    (builds the release preset first when build/release has no vkllm)
                          [--types f16,q8_0,q4_0,q4_k_m,q6_k] [-p 128] [-n 32] [-r 3]

For each model and weight type: writes the model as GGUF with `vkllm export-gguf`, then measures
  * vkllm (`vkllm bench --json`, default device: lavapipe here),
  * llama.cpp's CPU build with 2 threads and its Vulkan build on the same Vulkan device
    (node-llama-cpp's prebuilt binaries, installed from the npm registry into a scratch folder
    on first use; llama.cpp only sees lavapipe with GGML_VK_VISIBLE_DEVICES=0),
and prints prefill and decode tokens/s with vkllm's ratio to each. Identical weights: every
quantized type (q8_0, q4_0, the K-quants and their mixes such as q4_k_m) runs from the very GGUF
file llama.cpp runs (`vkllm bench FILE.gguf`); f16 models run from their f16 safetensors (the
bundled model is bf16 and its GGUF is f16: same bytes per weight). `--json FILE` also writes
every measurement.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
LLAMACPP_VERSION = "3.22.1"


def run(cmd, env=None, **kw):
    print("+ " + " ".join(str(c) for c in cmd), file=sys.stderr, flush=True)
    kw.setdefault("stdout", sys.stderr)  # keep stdout for the table
    return subprocess.run([str(c) for c in cmd], check=True, env=env, text=True, **kw)


def ensure_llamacpp(scratch):
    prefix = scratch / "npm"
    if not (prefix / "node_modules" / "node-llama-cpp" / "package.json").exists():
        prefix.mkdir(parents=True, exist_ok=True)
        run(["npm", "install", "--prefix", prefix, "--no-audit", "--no-fund", "--loglevel=error",
             f"node-llama-cpp@{LLAMACPP_VERSION}"])
    return prefix


def llamacpp(prefix, gguf, backend, a):
    env = dict(os.environ)
    if backend == "vulkan":
        env.setdefault("GGML_VK_VISIBLE_DEVICES", "0")
    out = run(["node", ROOT / "bench" / "llamacpp" / "speed.mjs", prefix, gguf, backend, a.p, a.n,
               a.r, a.threads], env=env, stdout=subprocess.PIPE, timeout=3600).stdout
    return json.loads(out.strip().splitlines()[-1])


def vkllm(vk, model, gguf, dtype, a):
    cmd = [vk, "bench", gguf if dtype not in ("f16", "f32") else model, "-p", a.p, "-n", a.n,
           "-r", a.r, "--json"]
    out = run(cmd, stdout=subprocess.PIPE, timeout=3600).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build", default=str(ROOT / "build" / "release"))
    ap.add_argument("--models", default="random134m,bundled")
    ap.add_argument("--types", default="f16,q8_0,q4_0,q4_k_m,q6_k")
    ap.add_argument("-p", type=int, default=128, help="prompt tokens (prefill)")
    ap.add_argument("-n", type=int, default=32, help="generated tokens (decode)")
    ap.add_argument("-r", type=int, default=3, help="repeats (median reported)")
    ap.add_argument("--threads", type=int, default=2, help="llama.cpp CPU threads")
    ap.add_argument("--backends", default="cpu,vulkan", help="llama.cpp backends to run")
    ap.add_argument("--scratch", default=os.environ.get("VKLLM_BENCH_SCRATCH", "/tmp/vkllm-side-by-side"))
    ap.add_argument("--json", help="also write all measurements to this file")
    a = ap.parse_args()

    build = pathlib.Path(a.build)
    vk = build / "bin" / "vkllm"
    if not vk.exists():  # a fresh clone: build the release preset first
        if build != ROOT / "build" / "release":
            sys.exit(f"side_by_side: {vk} not found; build {build} first")
        run(["cmake", "--preset", "release"], cwd=ROOT)
        run(["cmake", "--build", "--preset", "release", "-j2"], cwd=ROOT)
    scratch = pathlib.Path(a.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    prefix = ensure_llamacpp(scratch)

    models = {}
    for name in a.models.split(","):
        if name == "bundled":
            models[name] = ROOT / "models" / "tiny-kjv"
        elif name == "random134m":
            d = scratch / "random134m"
            if not (d / "model.safetensors").exists():
                run([build / "bin" / "make_random_llama", d])
            models[name] = d
        else:
            models[pathlib.Path(name).name] = pathlib.Path(name)

    rows = []
    for mname, mdir in models.items():
        for dtype in a.types.split(","):
            gguf = scratch / f"{mname}-{dtype}.gguf"
            if not gguf.exists():
                run([vk, "export-gguf", mdir, gguf, "--type", dtype])
            row = {"model": mname, "type": dtype, "vkllm": vkllm(vk, mdir, gguf, dtype, a)}
            for backend in a.backends.split(","):
                row[f"llama.cpp {backend}"] = llamacpp(prefix, gguf, backend, a)
            rows.append(row)
            print_table(rows, a)
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(rows, indent=1) + "\n")


def print_table(rows, a):
    refs = [k for k in rows[0] if k.startswith("llama.cpp")]
    head = f"{'model':<12} {'type':<6} {'phase':<8} {'vkllm':>9}"
    for r in refs:
        head += f" {r:>17} {'ratio':>7}"
    print(f"\nprefill: {a.p} tokens, decode: {a.n} tokens, median of {a.r}; tokens/s")
    print(head)
    for row in rows:
        for phase in ("prefill", "decode"):
            v = row["vkllm"][f"{phase}_tps"]
            line = f"{row['model']:<12} {row['type']:<6} {phase:<8} {v:>9.1f}"
            for r in refs:
                ref = row[r][f"{phase}_tps"]
                line += f" {ref:>17.1f} {v / ref if ref else 0:>6.2f}x"
            print(line)
    sys.stdout.flush()


if __name__ == "__main__":
    main()

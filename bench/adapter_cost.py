#!/usr/bin/env python3
"""What a runtime LoRA adapter costs beside the same adapter merged, on one model.

    bench/adapter_cost.py MODEL_DIR [--ranks 8,16,64] [--targets all|attn] [-p 128] [-n 32] [-r 3]
                          [--quantize q8_0] [--build build/release]

Writes random PEFT adapters (every projection of every layer: q, k, v, o, gate, up, down; or
q, k, v, o) of each rank next to a scratch folder, then runs `vkllm bench --json` with no
adapter, each adapter merged (the weights are the base's size: no cost beyond load) and at
runtime (the base untouched, (x·Aᵀ)·Bᵀ added per projection), and prints prefill and decode
tokens/s with runtime's ratio to merged.
"""
import argparse
import json
import pathlib
import struct
import subprocess
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent


def header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def write_safetensors(path, tensors):
    meta, blobs, off = {}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype=np.float32).tobytes()
        meta[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(meta).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def make_adapter(model_dir, out, rank, targets, seed):
    names = {}
    for f in sorted(pathlib.Path(model_dir).glob("*.safetensors")):
        names.update({k: v for k, v in header(f).items() if k != "__metadata__"})
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, info in names.items():
        mod = name[:-len(".weight")] if name.endswith(".weight") else None
        if not mod or not any(mod.endswith(t) for t in targets):
            continue
        out_dim, in_dim = info["shape"][0], info["shape"][1]
        tensors[f"base_model.model.{mod}.lora_A.weight"] = rng.normal(0, in_dim ** -0.5, (rank, in_dim))
        tensors[f"base_model.model.{mod}.lora_B.weight"] = rng.normal(0, 0.01, (out_dim, rank))
    out.mkdir(parents=True, exist_ok=True)
    write_safetensors(out / "adapter_model.safetensors", tensors)
    (out / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "r": rank, "lora_alpha": 2 * rank,
         "target_modules": sorted({t.split(".")[-1] for t in targets})}))
    return len(tensors) // 2


def bench(vkllm, model, args, adapter=None, mode=None):
    cmd = [str(vkllm), "bench", model, "-p", str(args.p), "-n", str(args.n), "-r", str(args.r),
           "--json"]
    if args.quantize:
        cmd += ["--quantize", args.quantize]
    if adapter:
        cmd += ["--adapter", str(adapter), "--adapter-mode", mode]
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--ranks", default="8,16,64")
    ap.add_argument("--targets", default="all", choices=["all", "attn"])
    ap.add_argument("-p", type=int, default=128)
    ap.add_argument("-n", type=int, default=32)
    ap.add_argument("-r", type=int, default=3)
    ap.add_argument("--quantize", default="")
    ap.add_argument("--build", default=str(ROOT / "build" / "release"))
    args = ap.parse_args()
    vkllm = pathlib.Path(args.build) / "bin" / "vkllm"
    targets = ["q_proj", "k_proj", "v_proj", "o_proj"]
    if args.targets == "all":
        targets += ["gate_proj", "up_proj", "down_proj"]
    rows = [("base", "-", bench(vkllm, args.model, args))]
    with tempfile.TemporaryDirectory() as tmp:
        for r in [int(x) for x in args.ranks.split(",")]:
            ad = pathlib.Path(tmp) / f"r{r}"
            n = make_adapter(args.model, ad, r, targets, r)
            print(f"adapter r={r}: {n} weights", file=sys.stderr)
            for mode in ["merged", "runtime"]:
                rows.append((f"r={r}", mode, bench(vkllm, args.model, args, ad, mode)))
    base = rows[0][2]
    print(f"\n{args.model} on {base['device']}{' ' + args.quantize if args.quantize else ''}: "
          f"prefill {args.p} tokens, decode {args.n} (median of {args.r}); targets {args.targets}")
    print(f"{'adapter':8} {'mode':8} {'prefill tok/s':>14} {'decode tok/s':>13} "
          f"{'prefill vs merged':>18} {'decode vs merged':>17}")
    merged = {}
    for name, mode, j in rows:
        if mode == "merged":
            merged[name] = j
        m = merged.get(name, base)
        print(f"{name:8} {mode:8} {j['prefill_tps']:14.1f} {j['decode_tps']:13.1f} "
              f"{j['prefill_tps'] / m['prefill_tps']:18.2f} {j['decode_tps'] / m['decode_tps']:17.2f}")


if __name__ == "__main__":
    main()

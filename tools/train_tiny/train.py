#!/usr/bin/env python3
"""Trains the bundled tiny Llama on the KJV corpus and saves it in Hugging Face format.

The architecture is written out here (RMSNorm, rotary attention with GQA, SwiGLU MLP, tied
embeddings), with Hugging Face's tensor names and rotate_half rotary layout, so the folder
loads in transformers' LlamaForCausalLM and in vkllm.
"""
import argparse
import json
import math
import os
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import bpe

CONFIG = dict(
    architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=256,
    intermediate_size=768, num_hidden_layers=6, num_attention_heads=8, num_key_value_heads=4,
    head_dim=32, max_position_embeddings=512, rms_norm_eps=1e-5, rope_theta=10000.0,
    rope_scaling=None, tie_word_embeddings=True, hidden_act="silu", attention_bias=False,
    mlp_bias=False, initializer_range=0.02, torch_dtype="bfloat16", use_cache=True)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, hd = c["hidden_size"], c["head_dim"]
        self.nh, self.nkv, self.hd = c["num_attention_heads"], c["num_key_value_heads"], hd
        self.q_proj = nn.Linear(d, self.nh * hd, bias=False)
        self.k_proj = nn.Linear(d, self.nkv * hd, bias=False)
        self.v_proj = nn.Linear(d, self.nkv * hd, bias=False)
        self.o_proj = nn.Linear(self.nh * hd, d, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.nkv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.nh // self.nkv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        return self.o_proj((att @ v).transpose(1, 2).reshape(b, t, -1))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, f = c["hidden_size"], c["intermediate_size"]
        self.gate_proj = nn.Linear(d, f, bias=False)
        self.up_proj = nn.Linear(d, f, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attn = Attention(c)
        self.mlp = MLP(c)
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class Llama(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        hd = c["head_dim"]
        inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2).float() / hd))
        self.register_buffer("inv_freq", inv, persistent=False)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=c["initializer_range"])

    def forward(self, ids):
        t = ids.shape[1]
        freqs = torch.outer(torch.arange(t).float(), self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.norm(x) @ self.embed_tokens.weight.T  # tied lm_head


def save_safetensors(path, tensors):
    """Minimal safetensors writer (bf16)."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().to(torch.bfloat16).contiguous().view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": "BF16", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("out")
    ap.add_argument("--minutes", type=float, default=45)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)

    tj = json.load(open(os.path.join(args.out, "tokenizer.json"), encoding="utf-8"))
    enc = bpe.Encoder(tj)
    bos = next(a["id"] for a in tj["added_tokens"] if a["content"] == "<|begin_of_text|>")
    eos = next(a["id"] for a in tj["added_tokens"] if a["content"] == "<|end_of_text|>")
    text = open(args.corpus, encoding="utf-8").read()
    # Chapters as documents: BOS ... EOS
    ids = []
    for chapter in text.split("\n\n") if "\n\n" in text else [text]:
        ids += [bos] + enc.encode(chapter) + [eos]
    data = torch.tensor(ids, dtype=torch.long)
    n_val = len(data) // 50
    train, val = data[:-n_val], data[-n_val:]
    c = dict(CONFIG, vocab_size=len(tj["model"]["vocab"]) + len(tj["added_tokens"]),
             bos_token_id=bos, eos_token_id=eos)
    model = Llama(c)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{len(data)} tokens, {n_params / 1e6:.2f}M parameters", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    log = open(os.path.join(args.out, "training_log.txt"), "w")
    log.write(f"tokens {len(data)} params {n_params} batch {args.batch} ctx {args.ctx}\n")
    t0, step = time.time(), 0
    budget = args.minutes * 60
    est_steps = None
    while True:
        elapsed = time.time() - t0
        if elapsed > budget:
            break
        if step == 20:
            est_steps = int(budget / (elapsed / 20))
        total = est_steps or 10**9
        lr = args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(step / total, 1.0))))
        warm = min(1.0, (step + 1) / 50)
        for g in opt.param_groups:
            g["lr"] = lr * warm
        ix = torch.randint(len(train) - args.ctx - 1, (args.batch,))
        x = torch.stack([train[i:i + args.ctx] for i in ix])
        y = torch.stack([train[i + 1:i + args.ctx + 1] for i in ix])
        loss = F.cross_entropy(model(x).view(-1, c["vocab_size"]), y.view(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 25 == 0:
            with torch.no_grad():
                vi = torch.randint(len(val) - args.ctx - 1, (8,))
                vx = torch.stack([val[i:i + args.ctx] for i in vi])
                vy = torch.stack([val[i + 1:i + args.ctx + 1] for i in vi])
                vloss = F.cross_entropy(model(vx).view(-1, c["vocab_size"]), vy.view(-1)).item()
            line = f"step {step} time {elapsed:.0f}s lr {lr * warm:.2e} train_loss {loss.item():.4f} val_loss {vloss:.4f}"
            print(line, flush=True)
            log.write(line + "\n")
            log.flush()
        step += 1
    tensors = {"model.embed_tokens.weight": model.embed_tokens.weight,
               "model.norm.weight": model.norm.weight}
    for i, layer in enumerate(model.layers):
        p = f"model.layers.{i}."
        for n in ["q_proj", "k_proj", "v_proj", "o_proj"]:
            tensors[p + f"self_attn.{n}.weight"] = getattr(layer.self_attn, n).weight
        for n in ["gate_proj", "up_proj", "down_proj"]:
            tensors[p + f"mlp.{n}.weight"] = getattr(layer.mlp, n).weight
        tensors[p + "input_layernorm.weight"] = layer.input_layernorm.weight
        tensors[p + "post_attention_layernorm.weight"] = layer.post_attention_layernorm.weight
    save_safetensors(os.path.join(args.out, "model.safetensors"), tensors)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    with open(os.path.join(args.out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": bos, "eos_token_id": eos, "do_sample": True,
                   "temperature": 0.8, "top_p": 0.95}, f, indent=2)
    log.write(f"final step {step} train_loss {loss.item():.4f}\n")
    log.close()
    print(f"saved after {step} steps -> {args.out}")


if __name__ == "__main__":
    main()

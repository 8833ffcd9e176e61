#!/usr/bin/env python3
"""PyTorch's side of the GPU benchmarks (tests/gpu/run.sh runs it after ours, same machine,
same call), printing each ratio against our numbers read from the logs given:

    python3 tests/gpu/torch_ref.py KERNEL_BENCH_LOG MODEL_BENCH_LOG

Our numbers come from the machine-readable "bench|key|value..." lines of phx_gpu_kernels
--bench and phx_gpu_engine --bench. PyTorch is timed here with CUDA events (median of 20 after
warm-up) on random bf16/f16 data (never zeros):
  - GEMM: torch.matmul(x, w.T) at issue 31's (M, N, K), bf16 and f16 (goal: ours >= 0.95x);
  - prefill attention: scaled_dot_product_attention(is_causal=True, enable_gqa=True), bf16,
    1 sequence, 32 query / 8 KV heads, head dim 128, 1,024 and 4,096 tokens (goal >= 1.0x);
  - decode: the 8B shape (as many layers as ours ran) as a plain batched PyTorch forward
    (contiguous KV cache, no paging), batch 1 ms/step, and 64 streams x 128 prompt + 128
    generated tokens (greedy): generated tokens/s, the floor our engine must beat.
Markdown rows (lines starting with '|') are collected into the run's report.
"""
import re
import sys
import time

import torch
import torch.nn.functional as F


ROOF = {}  # key -> share of the roofline (%), from the kernel bench lines


def read_bench(paths):
    """key -> float(value) from 'bench|key|value|...' lines (and ROOF from their 6th field)."""
    vals = {}
    for path in paths:
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith("bench|"):
                        parts = line.strip().split("|")
                        try:
                            vals[parts[1]] = float(parts[2])
                            if len(parts) > 5:
                                ROOF[parts[1]] = float(parts[5])
                        except (IndexError, ValueError):
                            pass
        except OSError:
            pass
    return vals


def median_ms(fn, runs=20, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def ratio(torch_ms, ours_us):
    if ours_us is None or ours_us <= 0:
        return "n/a"
    return f"{torch_ms * 1e3 / ours_us:.2f}x"


def gemm(ours):
    print("| GEMM (M, N, K) | dtype | torch.matmul us | ours us (best of mma/wgmma) | ours vs torch |")
    print("| --- | --- | --- | --- | --- |")
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False
    torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = False
    for dt, name in ((torch.bfloat16, "bf16"), (torch.float16, "f16")):
        for m, n, k in ((1, 4096, 4096), (16, 4096, 14336), (512, 4096, 4096), (4096, 4096, 4096)):
            x = torch.randn(m, k, device=dev, dtype=dt)
            w = torch.randn(n, k, device=dev, dtype=dt) * 0.02
            ms = median_ms(lambda: torch.matmul(x, w.t()))
            cands = [ours.get(f"gemm:{impl}:{name}:{m}x{n}x{k}") for impl in ("mma", "wgmma")]
            cands = [c for c in cands if c]
            best = min(cands) if cands else None
            cub = ours.get(f"gemm:cublas:{name}:{m}x{n}x{k}")
            print(f"| ({m}, {n}, {k}) | {name} | {ms * 1e3:.1f} | "
                  f"{best if best else 'n/a'} (cuBLAS {cub if cub else 'n/a'}) | {ratio(ms, best)} |")


def prefill(ours):
    print()
    print("| prefill attention, causal, bf16, h32/8 hd128 | SDPA us | ours us | ours vs SDPA |")
    print("| --- | --- | --- | --- |")
    dev = torch.device("cuda")
    for t in (1024, 4096):
        q = torch.randn(1, 32, t, 128, device=dev, dtype=torch.bfloat16)
        k = torch.randn(1, 8, t, 128, device=dev, dtype=torch.bfloat16)
        v = torch.randn(1, 8, t, 128, device=dev, dtype=torch.bfloat16)
        try:
            ms = median_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                                                  enable_gqa=True))
            how = "enable_gqa"
        except (TypeError, RuntimeError):
            kr, vr = k.repeat_interleave(4, 1), v.repeat_interleave(4, 1)
            ms = median_ms(lambda: F.scaled_dot_product_attention(q, kr, vr, is_causal=True))
            how = "K/V repeated"
        mine = ours.get(f"prefill:bf16:{t}")
        print(f"| {t} tokens ({how}) | {ms * 1e3:.1f} | {mine if mine else 'n/a'} | "
              f"{ratio(ms, mine)} |")


class Llama:
    """A plain batched Llama forward in bf16 with a contiguous KV cache (no paging)."""

    def __init__(self, layers, embd, ff, heads, kv_heads, vocab, dev):
        g = torch.Generator(device=dev).manual_seed(5)
        dt = torch.bfloat16

        def w(*shape):
            return (torch.randn(*shape, device=dev, dtype=dt, generator=g) * 0.02)

        self.h, self.kvh, self.d = heads, kv_heads, embd // heads
        self.emb, self.out, self.norm = w(vocab, embd), w(vocab, embd), torch.ones(embd, device=dev, dtype=dt)
        self.layers = []
        for _ in range(layers):
            self.layers.append(dict(
                wqkv=w((heads + 2 * kv_heads) * self.d, embd), wo=w(embd, heads * self.d),
                w13=w(2 * ff, embd), w2=w(embd, ff), n1=torch.ones(embd, device=dev, dtype=dt),
                n2=torch.ones(embd, device=dev, dtype=dt)))
        self.ff = ff
        inv = 1.0 / (500000.0 ** (torch.arange(0, self.d, 2, device=dev).float() / self.d))
        ang = torch.outer(torch.arange(4096, device=dev).float(), inv)
        self.cos, self.sin = ang.cos().to(dt), ang.sin().to(dt)

    @staticmethod
    def rms(x, w):
        return F.rms_norm(x, (x.shape[-1],), w, 1e-5)

    def rope(self, x, pos0):
        t = x.shape[2]
        c, s = self.cos[pos0:pos0 + t], self.sin[pos0:pos0 + t]
        x1, x2 = x[..., : self.d // 2], x[..., self.d // 2:]
        return torch.cat((x1 * c - x2 * s, x1 * s + x2 * c), dim=-1)

    def forward(self, tokens, pos0, ck, cv):
        b, t = tokens.shape
        x = self.emb[tokens]
        for i, L in enumerate(self.layers):
            h = self.rms(x, L["n1"])
            qkv = h @ L["wqkv"].t()
            q, k, v = qkv.split([self.h * self.d, self.kvh * self.d, self.kvh * self.d], dim=-1)
            q = self.rope(q.view(b, t, self.h, self.d).transpose(1, 2), pos0)
            k = self.rope(k.view(b, t, self.kvh, self.d).transpose(1, 2), pos0)
            v = v.view(b, t, self.kvh, self.d).transpose(1, 2)
            ck[i, :, :, pos0:pos0 + t] = k
            cv[i, :, :, pos0:pos0 + t] = v
            a = F.scaled_dot_product_attention(q, ck[i, :, :, :pos0 + t], cv[i, :, :, :pos0 + t],
                                               is_causal=t > 1, enable_gqa=True)
            x = x + a.transpose(1, 2).reshape(b, t, self.h * self.d) @ L["wo"].t()
            h = self.rms(x, L["n2"])
            gu = h @ L["w13"].t()
            x = x + (F.silu(gu[..., : self.ff]) * gu[..., self.ff:]) @ L["w2"].t()
        return (self.rms(x[:, -1], self.norm) @ self.out.t()).argmax(-1)

    def generate(self, batch, prompt, gen):
        dev = self.emb.device
        ck = torch.empty(len(self.layers), batch, self.kvh, prompt + gen, self.d, device=dev,
                         dtype=torch.bfloat16)
        cv = torch.empty_like(ck)
        tokens = torch.randint(1, self.emb.shape[0], (batch, prompt), device=dev)
        nxt = self.forward(tokens, 0, ck, cv)
        for i in range(gen - 1):
            nxt = self.forward(nxt[:, None], prompt + i, ck, cv)
        return nxt


def model(ours):
    layers = 32
    for key in ours:
        m = re.match(r"(?:decode|serve):8b-(\d+)l:", key)
        if m:
            layers = int(m.group(1))
    name = "8b" if layers == 32 else f"8b-{layers}l"
    dev = torch.device("cuda")
    t0 = time.time()
    net = Llama(layers, 4096, 14336, 32, 8, 32000, dev)
    torch.cuda.synchronize()
    print(f"\ntorch: {name} weights built in {time.time() - t0:.1f} s")
    print()
    print(f"| {name} (bf16) | PyTorch plain forward | ours | ours vs PyTorch |")
    print("| --- | --- | --- | --- |")
    with torch.inference_mode():
        net.generate(1, 128, 4)  # warm-up
        torch.cuda.synchronize()
        steps = 32
        t0 = time.time()
        net.generate(1, 128, steps + 1)
        torch.cuda.synchronize()
        total = time.time() - t0
        t0 = time.time()
        net.generate(1, 128, 1)
        torch.cuda.synchronize()
        ms = (total - (time.time() - t0)) * 1e3 / steps
        mine = ours.get(f"decode:{name}:graphs:ms")
        bw = ours.get(f"decode:{name}:graphs:bw_pct")
        print(f"| batch-1 decode ms/step | {ms:.2f} | {mine if mine else 'n/a'} "
              f"({bw if bw else 'n/a'}% of copy bandwidth) | "
              f"{f'{ms / mine:.2f}x' if mine else 'n/a'} |")
        net.generate(64, 128, 4)  # warm-up at batch 64
        torch.cuda.synchronize()
        t0 = time.time()
        net.generate(64, 128, 128)
        torch.cuda.synchronize()
        secs = time.time() - t0
        tps = 64 * 128 / secs
        mine = ours.get(f"serve:{name}:graphs:tok_s")
        print(f"| 64 streams x 128/128, generated tok/s | {tps:.0f} ({secs:.2f} s) | "
              f"{f'{mine:.0f}' if mine else 'n/a'} | {f'{mine / tps:.2f}x' if mine else 'n/a'} |")


def decode_attention(ours):
    print()
    print("| paged decode attention, bf16, h32/8 hd128 | ours us | share of copy bandwidth "
          "(goal >= 80%) |")
    print("| --- | --- | --- |")
    for key in ("decode:bf16:16x4096", "decode:bf16:64x4096", "decode:bf16:1x32768"):
        print(f"| {key[len('decode:bf16:'):]} (sequences x context) | "
              f"{ours.get(key, 'n/a')} | {ROOF.get(key, 'n/a')}% |")


def main():
    ours = read_bench(sys.argv[1:])
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}; "
          f"{len(ours)} of our benchmark values read")
    gemm(ours)
    prefill(ours)
    decode_attention(ours)
    model(ours)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""PyTorch baselines for phx_gpu_kernels' benchmark table (run by tests/gpu/run.sh).

Times torch.matmul on the same f16 GEMM shapes and SDPA (flash backend) on the same causal
prefill, and, given phx_gpu_kernels' output file, prints our time / torch time ratios:
    python3 tests/gpu/torch_ref.py [phx_output.txt]
Lines start with "torch " so run.sh can collect them.
"""
import re
import sys

import torch
import torch.nn.functional as F


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


def ours(table, kernel, shape):
    """Our fastest time (us) for a kernel-name prefix and shape from the phx table."""
    best = None
    for k, s, us in table:
        if k.startswith(kernel) and s == shape:
            best = us if best is None else min(best, us)
    return best


def parse(path):
    rows = []
    if not path:
        return rows
    pat = re.compile(r"^(gemm \w+|paged prefill)\s+(.+?)\s{2,}\s*([\d.]+)\s")
    with open(path) as f:
        for line in f:
            m = pat.match(line)
            if m:
                rows.append((m.group(1), m.group(2).strip(), float(m.group(3))))
    return rows


def main():
    table = parse(sys.argv[1] if len(sys.argv) > 1 else None)
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False
    models = [(2048, 2048), (8192, 2048), (2048, 8192), (4096, 4096), (14336, 4096),
              (4096, 14336)]
    for m in (16, 512, 4096):
        for n, k in models:
            x = torch.randn(m, k, device=dev, dtype=torch.float16)
            w = torch.randn(n, k, device=dev, dtype=torch.float16)
            ms = median_ms(lambda: torch.matmul(x, w.t()))
            shape = f"m{m} n{n} k{k} f16"
            tf = 2 * m * n * k / ms / 1e9
            us = ours(table, "gemm mma", shape)
            wg = ours(table, "gemm wgmma", shape)
            best = min(v for v in (us, wg) if v is not None) if (us or wg) else None
            ratio = f"ours {ms * 1e3 / best:.2f}x torch" if best else ""
            print(f"torch matmul  {shape:<28} {ms * 1e3:9.1f} us {tf:7.1f} TF/s  {ratio}")
    # Causal prefill: 1 sequence x 4096 tokens, 32 query / 8 KV heads, head_dim 128, f16.
    t, h, kvh, d = 4096, 32, 8, 128
    q = torch.randn(1, h, t, d, device=dev, dtype=torch.float16)
    k = torch.randn(1, kvh, t, d, device=dev, dtype=torch.float16)
    v = torch.randn(1, kvh, t, d, device=dev, dtype=torch.float16)
    kr, vr = k.repeat_interleave(h // kvh, 1), v.repeat_interleave(h // kvh, 1)
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        ctx = sdpa_kernel(SDPBackend.FLASH_ATTENTION)
    except ImportError:
        ctx = torch.backends.cuda.sdp_kernel(enable_math=False, enable_mem_efficient=False)
    with ctx:
        ms = median_ms(lambda: F.scaled_dot_product_attention(q, kr, vr, is_causal=True))
    flops = 4 * d * h * t * (t + 1) / 2
    shape = "1 seqs hd128 h32/8 bs16 f16 causal"
    us = ours(table, "paged prefill", shape)
    ratio = f"ours {ms * 1e3 / us:.2f}x torch" if us else ""
    print(f"torch sdpa-flash {shape:<36} {ms * 1e3:9.1f} us {flops / ms / 1e9:7.1f} TF/s  {ratio}")


if __name__ == "__main__":
    main()

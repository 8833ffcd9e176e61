// CpuBackend's row-wise ops: rms_norm (whole rows or per head), layer_norm, add_rms_norm, rope,
// write_kv, swiglu, geglu, gelu, add, embedding, softmax, penalties. Parallel over rows when a call
// is large enough to pay for the fork/join.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "base/status.h"
#include "base/strings.h"
#include "ops/cpu/cpu_backend.h"
#include "ops/cpu/validate.h"
#include "ops/logits.h"

namespace phx::ops::cpu {

absl::Status CpuBackend::RmsNorm(const Tensor& x, const Tensor& w, float eps, const Tensor& y) {
  PHX_RETURN_IF_ERROR(CheckF32("rms_norm", "x", x, -1, -1));
  const int64_t M = x.rows(), D = x.cols();
  PHX_RETURN_IF_ERROR(CheckF32("rms_norm", "w", w, 1, -1));
  const int64_t G = w.cols();  // < D: each group of G columns (a head) on its own
  if (G <= 0 || D % G != 0) {
    return ShapeError("rms_norm", StrCat("w must have ", D, " values or a divisor of it"), w, &x);
  }
  PHX_RETURN_IF_ERROR(CheckF32("rms_norm", "y", y, M, D));
  const VecKernels& v = kernels_.vec;
  const auto* wd = static_cast<const float*>(w.data);
  ParallelRows(M, D, [&](int64_t b, int64_t e) {
    for (int64_t m = b; m < e; ++m) {
      for (int64_t g = 0; g < D; g += G) {
        const float* xr = x.row_as<float>(m) + g;
        // ggml: sum of float squares in double, mean and scale in float, (x * scale) * w.
        const float mean = static_cast<float>(v.sum_sq(xr, G) / static_cast<double>(G));
        const float scale = 1.0f / std::sqrt(mean + eps);
        v.scale_mul(xr, scale, wd, y.row_as<float>(m) + g, G);
      }
    }
  });
  return absl::OkStatus();
}

absl::Status CpuBackend::LayerNorm(const Tensor& x, const Tensor& w, const Tensor& b, float eps,
                                   const Tensor& y) {
  PHX_RETURN_IF_ERROR(CheckF32("layer_norm", "x", x, -1, -1));
  const int64_t M = x.rows(), D = x.cols();
  PHX_RETURN_IF_ERROR(CheckF32("layer_norm", "w", w, 1, D));
  PHX_RETURN_IF_ERROR(CheckF32("layer_norm", "b", b, 1, D));
  PHX_RETURN_IF_ERROR(CheckF32("layer_norm", "y", y, M, D));
  if (D == 0) return absl::OkStatus();
  const auto* wd = static_cast<const float*>(w.data);
  const auto* bd = static_cast<const float*>(b.data);
  ParallelRows(M, 3 * D, [&](int64_t r0, int64_t r1) {
    for (int64_t m = r0; m < r1; ++m) {
      const float* xr = x.row_as<float>(m);
      float* yr = y.row_as<float>(m);
      // ggml_norm: mean and variance summed in double, then (x - mean) * scale in float; the
      // affine part is ggml's separate mul and add.
      double sum = 0;
      for (int64_t i = 0; i < D; ++i) sum += xr[i];
      const float mean = static_cast<float>(sum / static_cast<double>(D));
      double sum2 = 0;
      for (int64_t i = 0; i < D; ++i) {
        const float c = xr[i] - mean;
        sum2 += static_cast<double>(c) * c;
      }
      const float scale = 1.0f / std::sqrt(static_cast<float>(sum2 / static_cast<double>(D)) + eps);
      for (int64_t i = 0; i < D; ++i) yr[i] = (xr[i] - mean) * scale * wd[i] + bd[i];
    }
  });
  return absl::OkStatus();
}

absl::Status CpuBackend::Gelu(const Tensor& x, const Tensor& out) {
  PHX_RETURN_IF_ERROR(CheckF32("gelu", "x", x, -1, -1));
  const int64_t M = x.rows(), F = x.cols();
  PHX_RETURN_IF_ERROR(CheckF32("gelu", "out", out, M, F));
  constexpr float kSqrt2OverPi = 0.79788456080286535588f;
  ParallelRows(M, 8 * F, [&](int64_t r0, int64_t r1) {
    for (int64_t m = r0; m < r1; ++m) {
      const float* xr = x.row_as<float>(m);
      float* o = out.row_as<float>(m);
      for (int64_t i = 0; i < F; ++i) {
        // 0.5 v (1 + tanh z) as v / (1 + e^(-2z)): no cancellation where tanh z nears -1.
        const float v = xr[i];
        const float z = kSqrt2OverPi * v * (1.0f + 0.044715f * v * v);
        o[i] = v / (1.0f + std::exp(-2.0f * z));
      }
    }
  });
  return absl::OkStatus();
}

absl::Status CpuBackend::PostNormAdd(const Tensor& residual, const Tensor& x, const Tensor& w,
                                     float eps, const Tensor& out) {
  PHX_RETURN_IF_ERROR(CheckF32("post_norm_add", "x", x, -1, -1));
  const int64_t M = x.rows(), D = x.cols();
  PHX_RETURN_IF_ERROR(CheckF32("post_norm_add", "w", w, 1, D));
  PHX_RETURN_IF_ERROR(CheckF32("post_norm_add", "residual", residual, M, D));
  PHX_RETURN_IF_ERROR(CheckF32("post_norm_add", "out", out, M, D));
  const VecKernels& v = kernels_.vec;
  const auto* wd = static_cast<const float*>(w.data);
  ParallelRows(M, 2 * D, [&](int64_t b, int64_t e) {
    std::vector<float> normed(static_cast<size_t>(D));  // out may alias residual or x
    for (int64_t m = b; m < e; ++m) {
      const float* xr = x.row_as<float>(m);
      const float mean = static_cast<float>(v.sum_sq(xr, D) / static_cast<double>(D));
      const float scale = 1.0f / std::sqrt(mean + eps);
      // (x * scale) * w rounded to f32 first, then added (ggml's rms_norm, mul, add).
      v.scale_mul(xr, scale, wd, normed.data(), D);
      v.add(residual.row_as<float>(m), normed.data(), out.row_as<float>(m), D);
    }
  });
  return absl::OkStatus();
}

absl::Status CpuBackend::Rope(const Tensor& x, int32_t head_dim, const Tensor& positions,
                              const RopeParams& p) {
  PHX_RETURN_IF_ERROR(CheckF32("rope", "x", x, -1, -1));
  const int64_t T = x.rows(), width = x.cols();
  if (head_dim <= 0 || width % head_dim != 0 || p.n_rot <= 0 || p.n_rot % 2 != 0 ||
      p.n_rot > head_dim) {
    return ShapeError("rope",
                      StrCat("head_dim ", head_dim, " / n_rot ", p.n_rot,
                             " must divide the row and satisfy 0 < n_rot <= head_dim, n_rot even"),
                      x);
  }
  if (p.ext_factor != 0.f && (p.n_ctx_orig <= 0 || !(p.freq_scale > 0.f))) {
    return absl::InvalidArgumentError(StrCat("rope: YaRN needs n_ctx_orig > 0 (", p.n_ctx_orig,
                                             ") and freq_scale > 0 (", p.freq_scale, ")"));
  }
  PHX_RETURN_IF_ERROR(CheckI32("rope", "positions", positions, T));
  const auto* pos = static_cast<const int32_t*>(positions.data);
  const int64_t heads = width / head_dim, half = p.n_rot / 2;
  const float theta_scale = powf(p.freq_base, -2.0f / static_cast<float>(p.n_rot));
  // YaRN: the correction dims (ggml_rope_yarn_corr_dims) and the magnitude gain, in f32.
  float corr_lo = 0.f, corr_hi = 0.f, mscale = p.attn_factor;
  if (p.ext_factor != 0.f) {
    auto corr_dim = [&](float beta) {
      return static_cast<float>(p.n_rot) *
             logf(static_cast<float>(p.n_ctx_orig) / (beta * 2 * static_cast<float>(M_PI))) /
             (2 * logf(p.freq_base));
    };
    corr_lo = std::max(0.f, floorf(corr_dim(p.beta_fast)));
    corr_hi = std::min(static_cast<float>(p.n_rot - 1), ceilf(corr_dim(p.beta_slow)));
    mscale *= 1.0f + 0.1f * logf(1.0f / p.freq_scale);
  }
  ParallelRows(T, width * 4, [&](int64_t b, int64_t e) {
    std::vector<float> cs(static_cast<size_t>(2 * half));
    for (int64_t t = b; t < e; ++t) {
      // The angles exactly as ggml_rope_cache_init computes them (float recurrence).
      float theta = static_cast<float>(pos[t]);
      for (int64_t i = 0; i < half; ++i) {
        const float ff = p.freq_factors != nullptr ? p.freq_factors[i] : 1.0f;
        const float extrap = theta / ff;
        float a = p.freq_scale * extrap;
        if (p.ext_factor != 0.f) {
          const float y = (static_cast<float>(i) - corr_lo) / std::max(0.001f, corr_hi - corr_lo);
          const float ramp = (1 - std::min(1.f, std::max(0.f, y))) * p.ext_factor;
          a = a * (1 - ramp) + extrap * ramp;
        }
        cs[2 * i] = cosf(a) * mscale;
        cs[2 * i + 1] = sinf(a) * mscale;
        theta *= theta_scale;
      }
      float* row = x.row_as<float>(t);
      for (int64_t h = 0; h < heads; ++h) {
        float* hv = row + h * head_dim;
        const int64_t stride = p.mode == RopeMode::kNormal ? 1 : half;
        for (int64_t i = 0; i < half; ++i) {
          float* v0 = p.mode == RopeMode::kNormal ? hv + 2 * i : hv + i;
          const float c = cs[2 * i], s = cs[2 * i + 1];
          const float x0 = v0[0], x1 = v0[stride];
          v0[0] = x0 * c - x1 * s;
          v0[stride] = x0 * s + x1 * c;
        }
      }
    }
  });
  return absl::OkStatus();
}

namespace {

absl::Status CheckCache(std::string_view op, const KvLayer& c) {
  for (const Tensor* t : {&c.k, &c.v}) {
    PHX_RETURN_IF_ERROR(CheckHost(op, t == &c.k ? "cache.k" : "cache.v", *t));
    if (t->ndim != 4 || (t->dtype != DType::kF16 && t->dtype != DType::kF32) ||
        t->shape[1] != c.block_size || !t->packed()) {
      return ShapeError(
          op,
          StrCat("cache must be packed f16/f32 [blocks, ", c.block_size, ", kv_heads, head_dim]"),
          *t);
    }
  }
  if (c.k.dtype != c.v.dtype || c.k.shape != c.v.shape) {
    return ShapeError(op, "cache.k and cache.v differ", c.k, &c.v);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CpuBackend::WriteKv(const Tensor& k, const Tensor& v, const Tensor& slot_mapping,
                                 const KvLayer& cache) {
  PHX_RETURN_IF_ERROR(CheckCache("write_kv", cache));
  PHX_RETURN_IF_ERROR(CheckSupported(Op::kWriteKv, cache.k.dtype));
  const int64_t nkv = cache.k.shape[2], hd = cache.k.shape[3];
  const int64_t slots = cache.k.shape[0] * cache.k.shape[1];
  PHX_RETURN_IF_ERROR(CheckF32("write_kv", "k", k, -1, nkv * hd));
  const int64_t T = k.rows();
  PHX_RETURN_IF_ERROR(CheckF32("write_kv", "v", v, T, nkv * hd));
  PHX_RETURN_IF_ERROR(CheckI32("write_kv", "slot_mapping", slot_mapping, T));
  const auto* slot = static_cast<const int32_t*>(slot_mapping.data);
  for (int64_t t = 0; t < T; ++t) {
    if (slot[t] < 0 || slot[t] >= slots) {
      return absl::InvalidArgumentError(
          StrCat("write_kv: slot ", slot[t], " of token ", t, " outside [0, ", slots, ")"));
    }
  }
  const bool f16 = cache.k.dtype == DType::kF16;
  const int64_t width = nkv * hd;
  ParallelRows(T, 2 * width, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      for (int pass = 0; pass < 2; ++pass) {
        const float* src = (pass == 0 ? k : v).row_as<float>(t);
        uint8_t* dst = (pass == 0 ? cache.k : cache.v).row(slot[t] * nkv);
        if (f16) {
          kernels_.vec.f32_to_f16(src, reinterpret_cast<uint16_t*>(dst), width);
        } else {
          std::memcpy(dst, src, width * 4);
        }
      }
    }
  });
  return absl::OkStatus();
}

absl::Status CpuBackend::SwiGlu(const Tensor& gate, const Tensor& up, const Tensor& out) {
  PHX_RETURN_IF_ERROR(CheckF32("swiglu", "gate", gate, -1, -1));
  const int64_t M = gate.rows(), F = gate.cols();
  PHX_RETURN_IF_ERROR(CheckF32("swiglu", "up", up, M, F));
  PHX_RETURN_IF_ERROR(CheckF32("swiglu", "out", out, M, F));
  ParallelRows(M, 8 * F, [&](int64_t b, int64_t e) {
    for (int64_t m = b; m < e; ++m) {
      kernels_.vec.silu_mul(gate.row_as<float>(m), up.row_as<float>(m), out.row_as<float>(m), F);
    }
  });
  return absl::OkStatus();
}

absl::Status CpuBackend::GeGlu(const Tensor& gate, const Tensor& up, const Tensor& out) {
  PHX_RETURN_IF_ERROR(CheckF32("geglu", "gate", gate, -1, -1));
  const int64_t M = gate.rows(), F = gate.cols();
  PHX_RETURN_IF_ERROR(CheckF32("geglu", "up", up, M, F));
  PHX_RETURN_IF_ERROR(CheckF32("geglu", "out", out, M, F));
  ParallelRows(M, 8 * F, [&](int64_t b, int64_t e) {
    for (int64_t m = b; m < e; ++m) {
      kernels_.vec.gelu_mul(gate.row_as<float>(m), up.row_as<float>(m), out.row_as<float>(m), F);
    }
  });
  return absl::OkStatus();
}

absl::Status CpuBackend::Add(const Tensor& a, const Tensor& b, const Tensor& out) {
  PHX_RETURN_IF_ERROR(CheckF32("add", "a", a, -1, -1));
  const int64_t M = a.rows(), D = a.cols();
  PHX_RETURN_IF_ERROR(CheckF32("add", "b", b, M, D));
  PHX_RETURN_IF_ERROR(CheckF32("add", "out", out, M, D));
  ParallelRows(M, D, [&](int64_t r0, int64_t r1) {
    for (int64_t m = r0; m < r1; ++m) {
      kernels_.vec.add(a.row_as<float>(m), b.row_as<float>(m), out.row_as<float>(m), D);
    }
  });
  return absl::OkStatus();
}

absl::Status CpuBackend::Embedding(const Tensor& table, const Tensor& ids, const Tensor& out) {
  return ScaledEmbedding(table, ids, 1.f, out);
}

absl::Status CpuBackend::ScaledEmbedding(const Tensor& table, const Tensor& ids, float scale,
                                         const Tensor& out) {
  PHX_RETURN_IF_ERROR(CheckHost("embedding", "table", table));
  PHX_RETURN_IF_ERROR(CheckSupported(Op::kEmbedding, table.dtype));
  if (table.ndim != 2) return ShapeError("embedding", "table must be 2-D [V, D]", table);
  const int64_t V = table.shape[0], D = table.shape[1];
  PHX_RETURN_IF_ERROR(CheckF32("embedding", "out", out, -1, D));
  const int64_t T = out.rows();
  PHX_RETURN_IF_ERROR(CheckI32("embedding", "ids", ids, T));
  const auto* id = static_cast<const int32_t*>(ids.data);
  for (int64_t t = 0; t < T; ++t) {
    if (id[t] < 0 || id[t] >= V) {
      return absl::InvalidArgumentError(
          StrCat("embedding: id ", id[t], " at ", t, " outside [0, ", V, ")"));
    }
  }
  ParallelRows(T, 4 * D, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      DequantizeRow(table.dtype, table.row(id[t]), out.row_as<float>(t), D);
      if (scale != 1.f) kernels_.vec.scale(out.row_as<float>(t), scale, D);
    }
  });
  return absl::OkStatus();
}

absl::Status CpuBackend::Softmax(const Tensor& x, float temperature, const Tensor& out) {
  PHX_RETURN_IF_ERROR(CheckF32("softmax", "x", x, -1, -1));
  const int64_t M = x.rows(), N = x.cols();
  PHX_RETURN_IF_ERROR(CheckF32("softmax", "out", out, M, N));
  if (!(temperature > 0.f) || !std::isfinite(temperature)) {
    return absl::InvalidArgumentError(
        StrCat("softmax: temperature must be positive and finite, got ", temperature));
  }
  ParallelRows(M, 16 * N, [&](int64_t b, int64_t e) {
    for (int64_t m = b; m < e; ++m) {
      SoftmaxRow({x.row_as<float>(m), static_cast<size_t>(N)}, temperature,
                 {out.row_as<float>(m), static_cast<size_t>(N)});
    }
  });
  return absl::OkStatus();
}

absl::Status CpuBackend::ApplyPenalties(const Tensor& logits, std::span<const PenaltyRow> rows) {
  PHX_RETURN_IF_ERROR(CheckF32("penalties", "logits", logits, -1, -1));
  const int64_t M = logits.rows(), V = logits.cols();
  if (static_cast<int64_t>(rows.size()) != M) {
    return ShapeError("penalties", StrCat(rows.size(), " penalty rows for ", M, " logit rows"),
                      logits);
  }
  for (int64_t m = 0; m < M; ++m) {
    const PenaltyRow& p = rows[m];
    if (p.tokens.size() != p.counts.size()) {
      return absl::InvalidArgumentError(StrCat("penalties: row ", m, " has ", p.tokens.size(),
                                               " tokens but ", p.counts.size(), " counts"));
    }
    for (int32_t t : p.tokens) {
      if (t < 0 || t >= V) {
        return absl::InvalidArgumentError(
            StrCat("penalties: token ", t, " of row ", m, " outside [0, ", V, ")"));
      }
    }
  }
  for (int64_t m = 0; m < M; ++m) {
    ApplyPenaltiesRow({logits.row_as<float>(m), static_cast<size_t>(V)}, rows[m]);
  }
  return absl::OkStatus();
}

}  // namespace phx::ops::cpu

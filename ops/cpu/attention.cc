// Paged attention on the CPU: PlanAttention splits a step into work items (sequence, KV head,
// tile of query rows, KV range); Attention runs them in parallel with an online softmax in f32
// over blocks of kKb keys, each K/V row converted to f32 once and shared by all query heads of
// the GQA group. Items that split a long context write partial (max, sum, out) results that a
// second pass merges.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/status.h"
#include "base/strings.h"
#include "ops/cpu/cpu_backend.h"
#include "ops/cpu/validate.h"

namespace phx::ops::cpu {
namespace {

constexpr int32_t kKb = 64;            // keys per online-softmax block
constexpr int32_t kMaxQueryVecs = 32;  // query vectors (rows x group heads) per item
constexpr int32_t kMinSplit = 256;     // fewest keys worth a separate item

struct Item {
  int32_t seq, kv_head;
  int32_t q0, q1;   // query rows of the sequence, relative to its first
  int32_t k0, k1;   // key positions
  int32_t partial;  // first partial slot (query vector v of the tile uses partial + v), or -1
};
struct Merge {
  int32_t seq, kv_head, q0, q1;
  int32_t first_partial, parts;  // parts of `stride` slots each
};

class CpuAttentionPlan : public AttentionPlan {
 public:
  AttentionBatch batch;
  int32_t n_heads = 0, n_kv_heads = 0, head_dim = 0, max_block = -1;
  std::vector<Item> items;
  std::vector<Merge> merges;
  int32_t num_partials = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<AttentionPlan>> CpuBackend::PlanAttention(
    const AttentionBatch& batch, int32_t n_heads, int32_t n_kv_heads, int32_t head_dim) {
  if (n_heads <= 0 || n_kv_heads <= 0 || head_dim <= 0 || n_heads % n_kv_heads != 0) {
    return absl::InvalidArgumentError(StrCat("plan_attention: n_heads ", n_heads, ", n_kv_heads ",
                                             n_kv_heads, ", head_dim ", head_dim));
  }
  if (batch.block_size <= 0) return absl::InvalidArgumentError("plan_attention: block_size");
  PHX_RETURN_IF_ERROR(batch.Validate(INT32_MAX));
  auto plan = std::make_unique<CpuAttentionPlan>();
  plan->batch = batch;
  plan->n_heads = n_heads;
  plan->n_kv_heads = n_kv_heads;
  plan->head_dim = head_dim;
  for (int32_t b : batch.kv_indices) plan->max_block = std::max(plan->max_block, b);
  const int32_t group = n_heads / n_kv_heads;
  const int32_t qt = std::max(1, kMaxQueryVecs / group);
  // Unsplit items first; count them to decide whether long contexts must be split to keep
  // every thread busy (decode of few sequences).
  int64_t unsplit = 0;
  for (int32_t s = 0; s < batch.num_seqs(); ++s) {
    const int32_t nq = batch.q_indptr[s + 1] - batch.q_indptr[s];
    unsplit += static_cast<int64_t>((nq + qt - 1) / qt) * n_kv_heads;
  }
  const int64_t target = 2 * static_cast<int64_t>(pool_.size());
  for (int32_t s = 0; s < batch.num_seqs(); ++s) {
    const int32_t nq = batch.q_indptr[s + 1] - batch.q_indptr[s];
    const int32_t len = batch.kv_len(s);
    for (int32_t q0 = 0; q0 < nq; q0 += qt) {
      const int32_t q1 = std::min(nq, q0 + qt);
      const int32_t end = len - nq + q1;  // keys this tile can see
      int32_t parts = 1;
      if (unsplit < target && end >= 2 * kMinSplit) {
        parts = static_cast<int32_t>(
            std::min<int64_t>((target + unsplit - 1) / unsplit, end / kMinSplit));
      }
      for (int32_t h = 0; h < n_kv_heads; ++h) {
        if (parts == 1) {
          plan->items.push_back({s, h, q0, q1, 0, end, -1});
          continue;
        }
        const int32_t vecs = (q1 - q0) * group;
        plan->merges.push_back({s, h, q0, q1, plan->num_partials, parts});
        const int32_t per = (end + parts - 1) / parts;
        for (int32_t p = 0; p < parts; ++p) {
          plan->items.push_back(
              {s, h, q0, q1, p * per, std::min(end, (p + 1) * per), plan->num_partials});
          plan->num_partials += vecs;
        }
      }
    }
  }
  return plan;
}

absl::Status CpuBackend::Attention(const Tensor& q, const KvLayer& cache,
                                   const AttentionPlan& plan_base, float scale, const Tensor& out) {
  const auto* plan = dynamic_cast<const CpuAttentionPlan*>(&plan_base);
  if (plan == nullptr) return absl::InvalidArgumentError("attention: plan is not a CPU plan");
  const AttentionBatch& batch = plan->batch;
  const int32_t H = plan->n_heads, G = H / plan->n_kv_heads, hd = plan->head_dim;
  for (const Tensor* t : {&cache.k, &cache.v}) {
    PHX_RETURN_IF_ERROR(CheckHost("attention", "cache", *t));
    PHX_RETURN_IF_ERROR(CheckSupported(Op::kAttention, t->dtype));
    if (t->ndim != 4 || t->shape[1] != batch.block_size || t->shape[2] != plan->n_kv_heads ||
        t->shape[3] != hd || !t->packed() || t->dtype != cache.k.dtype ||
        cache.block_size != batch.block_size) {
      return ShapeError("attention",
                        StrCat("cache must be [blocks, ", batch.block_size, ", ", plan->n_kv_heads,
                               ", ", hd, "] like the plan"),
                        *t);
    }
  }
  if (plan->max_block >= cache.k.shape[0]) {
    return absl::InvalidArgumentError(
        StrCat("attention: block ", plan->max_block, " beyond the cache's ", cache.k.shape[0]));
  }
  const int64_t T = batch.q_indptr.back();
  PHX_RETURN_IF_ERROR(CheckF32("attention", "q", q, T, static_cast<int64_t>(H) * hd));
  PHX_RETURN_IF_ERROR(CheckF32("attention", "out", out, T, static_cast<int64_t>(H) * hd));

  const bool f16 = cache.k.dtype == DType::kF16;
  const VecKernels& vk = kernels_.vec;
  const int64_t nkv = plan->n_kv_heads;
  // Per thread: o, qbuf [vecs * hd], m, l, cnt [vecs], sc [vecs * kKb], kbuf, vbuf [kKb * hd].
  const size_t vecs_max = static_cast<size_t>(kMaxQueryVecs + G);
  const size_t need = vecs_max * (2 * hd + 3 + kKb) + 2 * static_cast<size_t>(kKb) * hd;
  for (auto& s : attn_scratch_) s.resize(need);
  std::vector<float> partial(static_cast<size_t>(plan->num_partials) * (hd + 2));

  const int64_t row_bytes = cache.k.stride();  // packed: one head row
  auto key_row = [&](const Tensor& c, int32_t seq, int32_t p, int32_t kvh) {
    const int32_t page = batch.kv_indices[batch.kv_indptr[seq] + p / batch.block_size];
    const int64_t slot = static_cast<int64_t>(page) * batch.block_size + p % batch.block_size;
    return static_cast<const uint8_t*>(c.data) + (slot * nkv + kvh) * row_bytes;
  };
  auto load_rows = [&](const Tensor& c, const Item& item, int32_t kb, int32_t n, float* dst) {
    for (int32_t j = 0; j < n; ++j) {
      const uint8_t* r = key_row(c, item.seq, kb + j, item.kv_head);
      if (f16) {
        vk.f16_to_f32(reinterpret_cast<const uint16_t*>(r), dst + j * hd, hd);
      } else {
        std::memcpy(dst + j * hd, r, hd * 4);
      }
    }
  };

  pool_.ParallelFor(
      static_cast<int64_t>(plan->items.size()), 1, [&](int64_t b, int64_t e, int tid) {
        float* base = attn_scratch_[tid].data();
        for (int64_t it = b; it < e; ++it) {
          const Item& item = plan->items[it];
          const int32_t nq = batch.q_indptr[item.seq + 1] - batch.q_indptr[item.seq];
          const int32_t len = batch.kv_len(item.seq);
          const int32_t vecs = (item.q1 - item.q0) * G;
          float* o = base;
          float* qbuf = o + vecs_max * hd;
          float* mx = qbuf + vecs_max * hd;
          float* l = mx + vecs_max;
          auto* cnt = reinterpret_cast<int*>(l + vecs_max);
          float* sc = l + 2 * vecs_max;
          float* kbuf = sc + vecs_max * kKb;
          float* vbuf = kbuf + static_cast<size_t>(kKb) * hd;
          std::fill_n(o, static_cast<size_t>(vecs) * hd, 0.f);
          std::fill_n(mx, vecs, -INFINITY);
          std::fill_n(l, vecs, 0.f);
          // Query vector v: row q0 + v / G of the sequence, head kv_head * G + v % G.
          for (int32_t v = 0; v < vecs; ++v) {
            const int64_t row = batch.q_indptr[item.seq] + item.q0 + v / G;
            std::memcpy(
                qbuf + static_cast<int64_t>(v) * hd,
                q.row_as<float>(row) + (static_cast<int64_t>(item.kv_head) * G + v % G) * hd,
                static_cast<size_t>(hd) * 4);
          }
          for (int32_t kb = item.k0; kb < item.k1; kb += kKb) {
            const int32_t n = std::min(kKb, item.k1 - kb);
            int32_t nmax = 0;
            for (int32_t v = 0; v < vecs; ++v) {
              const int32_t limit = len - nq + item.q0 + v / G + 1;  // causal: keys < limit
              cnt[v] = std::max(0, std::min(n, limit - kb));
              nmax = std::max(nmax, cnt[v]);
            }
            if (nmax == 0) break;  // later blocks are beyond every query's position
            load_rows(cache.k, item, kb, nmax, kbuf);
            vk.qk_block(qbuf, vecs, kbuf, nmax, hd, scale, sc, kKb);
            for (int32_t v = 0; v < vecs; ++v) {
              if (cnt[v] == 0) continue;
              float* s = sc + static_cast<int64_t>(v) * kKb;
              const float m_new = std::max(mx[v], vk.max(s, cnt[v]));
              const float alpha = std::exp(mx[v] - m_new);  // 0 on the first block
              l[v] = l[v] * alpha + vk.exp_sum(s, m_new, cnt[v]);
              if (alpha != 1.f) vk.scale(o + static_cast<int64_t>(v) * hd, alpha, hd);
              mx[v] = m_new;
            }
            load_rows(cache.v, item, kb, nmax, vbuf);
            vk.pv_block(sc, kKb, cnt, vecs, vbuf, hd, o);
          }
          for (int32_t v = 0; v < vecs; ++v) {
            float* ov = o + static_cast<int64_t>(v) * hd;
            if (item.partial < 0) {
              const int64_t row = batch.q_indptr[item.seq] + item.q0 + v / G;
              float* dst =
                  out.row_as<float>(row) + (static_cast<int64_t>(item.kv_head) * G + v % G) * hd;
              const float inv = 1.f / l[v];
              for (int32_t i = 0; i < hd; ++i) dst[i] = ov[i] * inv;
            } else {
              float* pp = partial.data() + static_cast<size_t>(item.partial + v) * (hd + 2);
              pp[0] = mx[v];
              pp[1] = l[v];
              std::memcpy(pp + 2, ov, static_cast<size_t>(hd) * 4);
            }
          }
        }
      });

  // Merge split items: out = sum_p e^(m_p - M) o_p / sum_p e^(m_p - M) l_p.
  pool_.ParallelFor(static_cast<int64_t>(plan->merges.size()), 1, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) {
      const Merge& mg = plan->merges[i];
      const int32_t vecs = (mg.q1 - mg.q0) * G;
      for (int32_t v = 0; v < vecs; ++v) {
        float m_all = -INFINITY;
        for (int32_t p = 0; p < mg.parts; ++p) {
          m_all = std::max(
              m_all, partial[static_cast<size_t>(mg.first_partial + p * vecs + v) * (hd + 2)]);
        }
        const int64_t row = batch.q_indptr[mg.seq] + mg.q0 + v / G;
        float* dst = out.row_as<float>(row) + (static_cast<int64_t>(mg.kv_head) * G + v % G) * hd;
        std::fill_n(dst, hd, 0.f);
        float l_all = 0.f;
        for (int32_t p = 0; p < mg.parts; ++p) {
          const float* pp =
              partial.data() + static_cast<size_t>(mg.first_partial + p * vecs + v) * (hd + 2);
          if (pp[1] == 0.f) continue;
          const float w = std::exp(pp[0] - m_all);
          l_all += w * pp[1];
          vk.axpy(w, pp + 2, dst, hd);
        }
        vk.scale(dst, 1.f / l_all, hd);
      }
    }
  });
  return absl::OkStatus();
}

}  // namespace phx::ops::cpu

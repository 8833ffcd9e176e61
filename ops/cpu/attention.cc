// Paged attention on the CPU: PlanAttention splits a step into work items (sequence, tile of
// query rows, range of KV heads, KV range); Attention runs them in parallel, each item walking
// its keys in blocks of kKb with an f32 online softmax (VecKernels::attend_block) that reads the
// K/V rows where they lie in the cache pages (f16 converted on load, no f32 copies). A cache
// slot holds all KV heads side by side, so decode items take several heads: they read whole
// pages (software-prefetched one head ahead), share the page lookups, and amortize their setup
// over more work. Items that split a long context write partial (max, sum, out) results that a
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

constexpr int32_t kKb = kAttnMaxKeys;  // keys per online-softmax block
constexpr int32_t kMaxQueryVecs = 32;  // query vectors (rows x group heads x KV heads) per item
constexpr int32_t kMinSplit = 256;     // fewest keys worth a separate item

struct Item {
  int32_t seq, h0, h1;  // KV heads [h0, h1)
  int32_t q0, q1;       // query rows of the sequence, relative to its first
  int32_t k0, k1;       // key positions
  int32_t partial;      // first partial slot (head h, vector v: + (h - h0) * vecs + v), or -1
};
struct Merge {
  int32_t seq, h0, h1, q0, q1;
  int32_t first_partial, parts;  // parts of (h1 - h0) * vecs slots each
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
  const int64_t target = 2 * static_cast<int64_t>(pool_.size());
  // KV heads per item of `rows` query rows: as many as fit in kMaxQueryVecs vectors, at most cap.
  auto heads = [&](int32_t rows, int32_t cap) {
    return std::clamp(kMaxQueryVecs / (rows * group), 1, cap);
  };
  // Context parts of a tile: long contexts are split only when there are too few unsplit items
  // to keep every thread busy (decode of few sequences).
  auto parts_of = [&](int32_t end, int64_t unsplit) -> int32_t {
    if (unsplit >= target || end < 2 * kMinSplit) return 1;
    return static_cast<int32_t>(
        std::min<int64_t>((target + unsplit - 1) / unsplit, end / kMinSplit));
  };
  auto for_each_tile = [&](auto&& fn) {
    for (int32_t s = 0; s < batch.num_seqs(); ++s) {
      const int32_t nq = batch.q_indptr[s + 1] - batch.q_indptr[s];
      for (int32_t q0 = 0; q0 < nq; q0 += qt) {
        const int32_t q1 = std::min(nq, q0 + qt);
        // The last: keys this tile can see (all of them without the causal mask).
        fn(s, q0, q1, batch.causal ? batch.kv_len(s) - nq + q1 : batch.kv_len(s));
      }
    }
  };
  auto unsplit_items = [&](int32_t cap) {
    int64_t n = 0;
    for_each_tile([&](int32_t, int32_t q0, int32_t q1, int32_t) {
      const int32_t h = heads(q1 - q0, cap);
      n += (n_kv_heads + h - 1) / h;
    });
    return n;
  };
  // Fewer heads per item only where the items, splits included, would leave threads idle.
  int32_t cap = n_kv_heads;
  while (cap > 1) {
    const int64_t unsplit = unsplit_items(cap);
    int64_t total = 0;
    for_each_tile([&](int32_t, int32_t q0, int32_t q1, int32_t end) {
      const int32_t h = heads(q1 - q0, cap);
      total += static_cast<int64_t>(parts_of(end, unsplit)) * ((n_kv_heads + h - 1) / h);
    });
    if (total >= target) break;
    cap = (cap + 1) / 2;
  }
  const int64_t unsplit = unsplit_items(cap);
  for_each_tile([&](int32_t s, int32_t q0, int32_t q1, int32_t end) {
    const int32_t hpi = heads(q1 - q0, cap), parts = parts_of(end, unsplit);
    for (int32_t h0 = 0; h0 < n_kv_heads; h0 += hpi) {
      const int32_t h1 = std::min(n_kv_heads, h0 + hpi);
      if (parts == 1) {
        plan->items.push_back({s, h0, h1, q0, q1, 0, end, -1});
        continue;
      }
      plan->merges.push_back({s, h0, h1, q0, q1, plan->num_partials, parts});
      const int32_t per = (end + parts - 1) / parts;
      for (int32_t p = 0; p < parts; ++p) {
        plan->items.push_back(
            {s, h0, h1, q0, q1, p * per, std::min(end, (p + 1) * per), plan->num_partials});
        plan->num_partials += (h1 - h0) * (q1 - q0) * group;
      }
    }
  });
  return plan;
}

absl::Status CpuBackend::Attention(const Tensor& q, const KvLayer& cache,
                                   const AttentionPlan& plan_base, const AttentionOptions& opt,
                                   const Tensor& out) {
  const auto* plan = dynamic_cast<const CpuAttentionPlan*>(&plan_base);
  if (plan == nullptr) return absl::InvalidArgumentError("attention: plan is not a CPU plan");
  if (opt.window < 0 || !(opt.softcap >= 0.f) || !std::isfinite(opt.softcap)) {
    return absl::InvalidArgumentError(
        StrCat("attention: window ", opt.window, " and softcap ", opt.softcap, " must be >= 0"));
  }
  const float scale = opt.scale;
  const int32_t window = opt.window;
  const AttentionBatch& batch = plan->batch;
  if (!batch.causal && window > 0) {
    return absl::InvalidArgumentError("attention: a sliding window needs causal attention");
  }
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
  // Per thread: o, qs [vmax * hd], m, l [vmax], s [vmax * kKb], cnt, lo [vmax] (all heads'
  // vectors of an item: at most kMaxQueryVecs, or one row's G when G is larger).
  const size_t vmax = static_cast<size_t>(std::max(kMaxQueryVecs, G));
  const size_t need = vmax * (2 * hd + 4 + kKb);
  for (auto& s : attn_scratch_) s.resize(need);
  std::vector<float> partial(static_cast<size_t>(plan->num_partials) * (hd + 2));

  const int64_t slot_bytes = cache.k.stride() * plan->n_kv_heads;  // all heads of one position
  const auto* kdata = static_cast<const uint8_t*>(cache.k.data);
  const auto* vdata = static_cast<const uint8_t*>(cache.v.data);
  const int32_t bs = batch.block_size;
  // Row addressing hoisted (Tensor::row looks the row size up per call).
  const auto* q_data = static_cast<const uint8_t*>(q.data);
  auto* out_data = static_cast<uint8_t*>(out.data);
  const int64_t q_stride = q.stride(), out_stride = out.stride();
  struct Rows {
    const void* k[kKb];
    const void* v[kKb];
  };

  pool_.ParallelFor(
      static_cast<int64_t>(plan->items.size()), 1, [&](int64_t b, int64_t e, int tid) {
        float* base = attn_scratch_[tid].data();
        Rows rows[2];  // cache slots of this block and of the next
        for (int64_t it = b; it < e; ++it) {
          const Item& item = plan->items[it];
          const int32_t nq = batch.q_indptr[item.seq + 1] - batch.q_indptr[item.seq];
          const int32_t len = batch.kv_len(item.seq);
          const int32_t nh = item.h1 - item.h0, vecs = (item.q1 - item.q0) * G;
          const int64_t row0 = batch.q_indptr[item.seq] + item.q0;
          const int32_t* pages = batch.kv_indices.data() + batch.kv_indptr[item.seq];
          float* o = base;
          float* qs = o + vmax * hd;
          float* mx = qs + vmax * hd;
          float* l = mx + vmax;
          float* sc = l + vmax;
          auto* cnt = reinterpret_cast<int*>(sc + vmax * kKb);
          int* lo = cnt + vmax;
          std::fill_n(o, static_cast<size_t>(nh) * vecs * hd, 0.f);
          std::fill_n(mx, nh * vecs, -INFINITY);
          std::fill_n(l, nh * vecs, 0.f);
          // Vector v of head h: row q0 + v / G of the sequence, query head (h0 + h) * G + v % G,
          // scaled once here instead of every score.
          for (int32_t h = 0; h < nh; ++h) {
            for (int32_t v = 0; v < vecs; ++v) {
              const auto* src = reinterpret_cast<const float*>(q_data + (row0 + v / G) * q_stride);
              std::memcpy(qs + (static_cast<int64_t>(h) * vecs + v) * hd,
                          src + (static_cast<int64_t>(item.h0 + h) * G + v % G) * hd,
                          hd * sizeof(float));
            }
          }
          vk.scale(qs, scale, static_cast<int64_t>(nh) * vecs * hd);
          // Cache slots of keys [kb, kb + n): one page lookup per run within a page.
          auto find_rows = [&](int32_t kb, int32_t n, Rows& r) {
            for (int32_t j = 0; j < n;) {
              const int32_t p = kb + j, in = p % bs, run = std::min(bs - in, n - j);
              int64_t off = (static_cast<int64_t>(pages[p / bs]) * bs + in) * slot_bytes;
              for (int32_t x = 0; x < run; ++x, ++j, off += slot_bytes) {
                r.k[j] = kdata + off;
                r.v[j] = vdata + off;
              }
            }
          };
          // With a sliding window, blocks before the earliest query's window are skipped.
          int32_t k_begin = item.k0;
          if (window > 0) {
            const int32_t first = len - nq + item.q0 + 1 - window;  // the first row's window
            if (first > k_begin) k_begin += (first - k_begin) / kKb * kKb;
          }
          int cur = 0;
          if (k_begin < item.k1) find_rows(k_begin, std::min(kKb, item.k1 - k_begin), rows[0]);
          for (int32_t kb = k_begin; kb < item.k1; kb += kKb, cur ^= 1) {
            const int32_t n = std::min(kKb, item.k1 - kb);
            int32_t nmax = 0;
            for (int32_t v = 0; v < vecs; ++v) {
              // Causal: keys < limit; bidirectional: every key of the sequence.
              const int32_t limit = batch.causal ? len - nq + item.q0 + v / G + 1 : len;
              cnt[v] = std::max(0, std::min(n, limit - kb));
              lo[v] = window > 0 ? std::clamp(limit - window - kb, 0, n) : 0;
              nmax = std::max(nmax, cnt[v]);
            }
            if (nmax == 0) break;  // later blocks are beyond every query's position
            const int32_t n_next = std::min(kKb, item.k1 - kb - kKb);
            if (n_next > 0) find_rows(kb + kKb, n_next, rows[cur ^ 1]);
            for (int32_t h = 0; h < nh; ++h) {
              AttnBlock a;
              a.q = qs + static_cast<int64_t>(h) * vecs * hd;
              a.nv = vecs;
              a.hd = hd;
              a.n = nmax;
              a.cnt = cnt;
              a.lo = window > 0 ? lo : nullptr;
              a.softcap = opt.softcap;
              a.k_rows = rows[cur].k;
              a.v_rows = rows[cur].v;
              a.off = static_cast<int64_t>(item.h0 + h) * hd;
              a.f16 = f16;
              a.m = mx + h * vecs;
              a.l = l + h * vecs;
              a.o = o + static_cast<int64_t>(h) * vecs * hd;
              a.s = sc;
              // Prefetch what comes next: the next head's rows of this block (same slots, but
              // beyond the hardware's adjacent-line pairs), after the last head the first
              // head's rows of the next block (other pages: the hardware streams stop at
              // every page boundary).
              const bool last = h + 1 == nh;
              const Rows& pf = rows[last ? cur ^ 1 : cur];
              a.pf_k = pf.k;
              a.pf_v = pf.v;
              a.pf_n = last ? std::max(n_next, 0) : nmax;
              a.pf_off = static_cast<int64_t>(last ? item.h0 : item.h0 + h + 1) * hd;
              vk.attend_block(a);
            }
          }
          for (int32_t h = 0; h < nh; ++h) {
            for (int32_t v = 0; v < vecs; ++v) {
              const int32_t hv = h * vecs + v;
              float* ov = o + static_cast<int64_t>(hv) * hd;
              if (item.partial < 0) {
                auto* dst = reinterpret_cast<float*>(out_data + (row0 + v / G) * out_stride);
                vk.scale(ov, 1.f / l[hv], hd);
                std::memcpy(dst + (static_cast<int64_t>(item.h0 + h) * G + v % G) * hd, ov,
                            hd * sizeof(float));
              } else {
                float* pp = partial.data() + static_cast<size_t>(item.partial + hv) * (hd + 2);
                pp[0] = mx[hv];
                pp[1] = l[hv];
                std::memcpy(pp + 2, ov, hd * sizeof(float));
              }
            }
          }
        }
      });

  // Merge split items: out = sum_p e^(m_p - M) o_p / sum_p e^(m_p - M) l_p.
  pool_.ParallelFor(static_cast<int64_t>(plan->merges.size()), 1, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) {
      const Merge& mg = plan->merges[i];
      const int32_t vecs = (mg.q1 - mg.q0) * G, slots = (mg.h1 - mg.h0) * vecs;
      for (int32_t hv = 0; hv < slots; ++hv) {
        auto part = [&](int32_t p) {
          return partial.data() + static_cast<size_t>(mg.first_partial + p * slots + hv) * (hd + 2);
        };
        float m_all = -INFINITY;
        for (int32_t p = 0; p < mg.parts; ++p) m_all = std::max(m_all, part(p)[0]);
        const int32_t h = mg.h0 + hv / vecs, v = hv % vecs;
        float* dst = out.row_as<float>(batch.q_indptr[mg.seq] + mg.q0 + v / G) +
                     (static_cast<int64_t>(h) * G + v % G) * hd;
        std::fill_n(dst, hd, 0.f);
        float l_all = 0.f;
        for (int32_t p = 0; p < mg.parts; ++p) {
          const float* pp = part(p);
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

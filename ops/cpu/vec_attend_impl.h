// The paged attention block kernel (VecKernels::attend_block, see AttnBlock in kernels.h),
// written once with GCC/Clang vector extensions: part of vec_impl.h, included by it inside each
// ISA's translation unit (PHX_ISA_NS, PHX_VEC_WIDTH and vec_impl.h's helpers already defined).
#if !defined(PHX_ISA_NS) || !defined(PHX_VEC_WIDTH)
#error "include vec_impl.h, not vec_attend_impl.h"
#endif

namespace phx::ops::cpu::PHX_ISA_NS {

// ---- Paged attention block (AttnBlock) ------------------------------------------------------
// Rows are read in place: f16 converted on load (one cvtph per vector where the ISA has it).
inline VF LoadRow(const float* p) { return Load(p); }
inline VF LoadRow(const uint16_t* p) {
#if defined(__AVX512F__) && PHX_VEC_WIDTH == 16
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
#elif defined(__F16C__) && PHX_VEC_WIDTH == 8
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
#else
  VF v;
  for (int i = 0; i < kW; ++i) v[i] = F16ToF32(p[i]);
  return v;
#endif
}
inline float ToF32(float x) { return x; }
inline float ToF32(uint16_t x) {
#if defined(__F16C__)
  return _cvtsh_ss(x);
#else
  return F16ToF32(x);
#endif
}

// Scores of a tile of kW keys come from kW accumulator vectors (one per key, lanes = partial
// dot products) summed by a shuffle tree instead of one horizontal sum per key: each level adds
// two vectors pairwise, halving the lanes per key, so the top holds one score per lane (about 2
// shuffles and 1 add per score, and the scores come out as a vector ready for the softmax).
// Within 128-bit lanes the shuffles are shufps patterns (one instruction on every ISA).
// CombineSrc: the input lane (of a: < kW, of b: >= kW) whose low (hi = false) or high summand
// lands in output lane i, when each input holds segments of S lanes per key.
constexpr int CombineSrc(int S, int i, bool hi) {
  const int B = S <= 4 ? 4 : kW;  // output blocks: first half from a, second from b
  const int half = B / 2, H = S / 2, r = i % B, rr = r % half;
  return (r >= half ? kW : 0) + (i / B) * B + (rr / H) * S + rr % H + (hi ? H : 0);
}
template <int S, size_t... I>
inline VF Combine(VF a, VF b, std::index_sequence<I...>) {
#if defined(__clang__)
  return __builtin_shufflevector(a, b, CombineSrc(S, I, false)...) +
         __builtin_shufflevector(a, b, CombineSrc(S, I, true)...);
#else
  return __builtin_shuffle(a, b, VI{CombineSrc(S, I, false)...}) +
         __builtin_shuffle(a, b, VI{CombineSrc(S, I, true)...});
#endif
}
constexpr int kTreeLevels = kW == 16 ? 4 : kW == 8 ? 3 : 2;
// Which of the 2^k leaves of Tree<k> output lane i sums.
constexpr int LeafOfLane(int k, int i) {
  if (k == 0) return 0;
  const int src = CombineSrc(kW >> (k - 1), i, false);
  return (src >= kW ? 1 << (k - 1) : 0) + LeafOfLane(k - 1, src % kW);
}
// Leaf p accumulates key kKeyOfLeaf.key[p] of the tile, so that lane j of the top is key j.
struct KeyOrder {
  int key[kW];
};
constexpr KeyOrder MakeKeyOrder() {
  KeyOrder o{};
  for (int i = 0; i < kW; ++i) o.key[LeafOfLane(kTreeLevels, i)] = i;
  return o;
}
constexpr KeyOrder kKeyOfLeaf = MakeKeyOrder();

template <int NV>
struct Vecs {
  VF x[NV];
};
template <int K, int NV, int P0, typename Leaf>
inline Vecs<NV> Tree(const Leaf& leaf) {
  if constexpr (K == 0) {
    return leaf.template operator()<P0>();
  } else {
    const Vecs<NV> a = Tree<K - 1, NV, P0>(leaf);
    const Vecs<NV> b = Tree<K - 1, NV, P0 + (1 << (K - 1))>(leaf);
    Vecs<NV> r;
    _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) {
      r.x[v] = Combine<(kW >> (K - 1))>(a.x[v], b.x[v], std::make_index_sequence<kW>());
    }
    return r;
  }
}

// One software prefetch (to L1) per cache line of a row. GCC's dead-code elimination drops
// __builtin_prefetch in some of these loops, so x86 gets the instruction as volatile asm.
template <typename T>
inline void PrefetchRow(const void* row, int64_t off, int hd) {
  const char* p = reinterpret_cast<const char*>(static_cast<const T*>(row) + off);
  for (int x = 0; x < hd * static_cast<int>(sizeof(T)); x += 64) {
#if defined(__x86_64__) || defined(__i386__)
    asm volatile("prefetcht0 %0" : : "m"(p[x]));
#else
    __builtin_prefetch(p + x, 0, 3);
#endif
  }
}

// s[v * kAttnMaxKeys + j] = q_v . k_j for NV vectors and the block's n keys (lanes past n: 0).
// HD > 0 fixes the head dim at compile time (the loops unroll and q can stay in registers).
template <typename T, int NV, int HD>
inline void QkTile(const AttnBlock& a, const float* q, float* s) {
  const int hd = HD > 0 ? HD : a.hd;
  for (int j0 = 0; j0 < a.n; j0 += kW) {
    const auto leaf = [&]<int P>() {
      Vecs<NV> acc{};
      const int j = j0 + kKeyOfLeaf.key[P];
      if (j < a.n) {
        const T* k = static_cast<const T*>(a.k_rows[j]) + a.off;
        int i = 0;
        _Pragma("GCC unroll 8") for (; i + kW <= hd; i += kW) {
          const VF kv = LoadRow(k + i);
          _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) {
            acc.x[v] += Load(q + v * hd + i) * kv;
          }
        }
        for (; i < hd; ++i) {  // head dims that are not a multiple of kW
          const float kf = ToF32(k[i]);
          for (int v = 0; v < NV; ++v) acc.x[v][0] += q[v * hd + i] * kf;
        }
      }
      return acc;
    };
    const Vecs<NV> r = Tree<kTreeLevels, NV, 0>(leaf);
    _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) {
      Store(s + v * kAttnMaxKeys + j0, r.x[v]);
    }
  }
}

// o[v * hd ..] += sum_{j < n} p[v * kAttnMaxKeys + j] * v_j for NV vectors: rank-1 updates of
// an NV x kCols vector-register tile per pass over the keys, no reductions.
template <typename T, int NV, int HD>
inline void PvTile(const AttnBlock& a, const float* p, float* o, bool pf) {
  constexpr int kCols = kW >= 16 ? 4 : 2;  // AVX2 has 16 registers: 4 x 2 tile + 2 rows
  const int hd = HD > 0 ? HD : a.hd;
  int i = 0;
  for (; i + kW <= hd; i += kCols * kW) {
    const int nc = (hd - i) / kW < kCols ? (hd - i) / kW : kCols;
    VF acc[NV][kCols] = {};
    for (int j = 0; j < a.n; ++j) {
      if (pf && i == 0 && j < a.pf_n) {
        PrefetchRow<T>(a.pf_k[j], a.pf_off, hd);
        PrefetchRow<T>(a.pf_v[j], a.pf_off, hd);
      }
      const T* vr = static_cast<const T*>(a.v_rows[j]) + a.off + i;
      VF x[kCols];
      _Pragma("GCC unroll 4") for (int c = 0; c < kCols; ++c) {
        x[c] = c < nc ? LoadRow(vr + c * kW) : VF{};
      }
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) {
        const float w = p[v * kAttnMaxKeys + j];
        _Pragma("GCC unroll 4") for (int c = 0; c < kCols; ++c) acc[v][c] += w * x[c];
      }
    }
    _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) {
      _Pragma("GCC unroll 4") for (int c = 0; c < nc; ++c) {
        float* dst = o + v * hd + i + c * kW;
        Store(dst, Load(dst) + acc[v][c]);
      }
    }
  }
  for (i = hd - hd % kW; i < hd; ++i) {  // head dims that are not a multiple of kW
    for (int j = 0; j < a.n; ++j) {
      const float x = ToF32(static_cast<const T*>(a.v_rows[j])[a.off + i]);
      for (int v = 0; v < NV; ++v) o[v * hd + i] += p[v * kAttnMaxKeys + j] * x;
    }
  }
}

// Horizontal max / sum by butterfly shuffles (log2(kW) steps instead of a kW-long chain).
template <int K, size_t... I>
inline VF SwapLanes(VF v, std::index_sequence<I...>) {
#if defined(__clang__)
  return __builtin_shufflevector(v, v, (I ^ K)...);
#else
  return __builtin_shuffle(v, VI{(I ^ K)...});
#endif
}
template <int K = kW / 2>
inline float HMaxTree(VF v) {
  if constexpr (K == 0) {
    return v[0];
  } else {
    const VF w = SwapLanes<K>(v, std::make_index_sequence<kW>());
    return HMaxTree<K / 2>(v > w ? v : w);
  }
}
template <int K = kW / 2>
inline float HSumTree(VF v) {
  if constexpr (K == 0) {
    return v[0];
  } else {
    return HSumTree<K / 2>(v + SwapLanes<K>(v, std::make_index_sequence<kW>()));
  }
}

// Largest of x[0, n), n >= 1 (plain compares: std::fmax is a libm call per lane).
inline float BlockMax(const float* x, int n) {
  int i = 0;
  float m = x[0];
  if (n >= kW) {
    VF acc = Load(x);
    for (i = kW; i + kW <= n; i += kW) {
      const VF v = Load(x + i);
      acc = v > acc ? v : acc;
    }
    m = HMaxTree(acc);
  }
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

// x = exp(x - m) for x[0, n); returns the sum (a shuffle tree for the horizontal sum).
inline float BlockExpSum(float* x, float m, int n) {
  VF acc{};
  int i = 0;
  for (; i + kW <= n; i += kW) {
    const VF e = Exp(Load(x + i) - m);
    Store(x + i, e);
    acc += e;
  }
  float sum = HSumTree(acc);
  for (; i < n; ++i) sum += (x[i] = std::exp(x[i] - m));
  return sum;
}

template <typename T, int HD>
void AttendRows(const AttnBlock& a) {
  const int hd = HD > 0 ? HD : a.hd;
  // Up to 4 vectors share each key row loaded (and converted) for the scores.
  for (int v0 = 0; v0 < a.nv; v0 += 4) {
    const float* q = a.q + v0 * hd;
    float* s = a.s + v0 * kAttnMaxKeys;
    switch (a.nv - v0) {
      case 1:
        QkTile<T, 1, HD>(a, q, s);
        break;
      case 2:
        QkTile<T, 2, HD>(a, q, s);
        break;
      case 3:
        QkTile<T, 3, HD>(a, q, s);
        break;
      default:
        QkTile<T, 4, HD>(a, q, s);
        break;
    }
  }
  for (int v = 0; v < a.nv; ++v) {
    float* s = a.s + v * kAttnMaxKeys;
    const int c = a.cnt[v];
    const int lo = a.lo != nullptr ? a.lo[v] : 0;
    if (c > lo) {
      float* o = a.o + v * hd;
      if (a.softcap > 0.f) SoftcapRow(s + lo, a.softcap, c - lo);
      const float m_new = std::max(a.m[v], BlockMax(s + lo, c - lo));
      const float alpha = Exp(Splat(a.m[v] - m_new))[0];  // 0 on the first block (m = -inf)
      a.l[v] = a.l[v] * alpha + BlockExpSum(s + lo, m_new, c - lo);
      if (alpha != 1.f) {
        for (int i = 0; i + kW <= hd; i += kW) Store(o + i, Load(o + i) * alpha);
        for (int i = hd - hd % kW; i < hd; ++i) o[i] *= alpha;
      }
      a.m[v] = m_new;
      for (int j = 0; j < lo; ++j) s[j] = 0.f;  // before the window
    } else {
      for (int j = 0; j < c; ++j) s[j] = 0.f;  // no key of the block is in the window
    }
    for (int j = c; j < a.n; ++j) s[j] = 0.f;  // masked keys weigh nothing in o += p V
  }
  for (int v0 = 0; v0 < a.nv; v0 += 4) {
    const float* p = a.s + v0 * kAttnMaxKeys;
    float* o = a.o + v0 * hd;
    switch (a.nv - v0) {
      case 1:
        PvTile<T, 1, HD>(a, p, o, v0 == 0);
        break;
      case 2:
        PvTile<T, 2, HD>(a, p, o, v0 == 0);
        break;
      case 3:
        PvTile<T, 3, HD>(a, p, o, v0 == 0);
        break;
      default:
        PvTile<T, 4, HD>(a, p, o, v0 == 0);
        break;
    }
  }
}

template <typename T>
void AttendRowsT(const AttnBlock& a) {
  switch (a.hd) {
    case 64:
      AttendRows<T, 64>(a);
      break;
    case 128:
      AttendRows<T, 128>(a);
      break;
    default:
      AttendRows<T, 0>(a);
      break;
  }
}

inline void AttendBlock(const AttnBlock& a) {
  if (a.f16) {
    AttendRowsT<uint16_t>(a);
  } else {
    AttendRowsT<float>(a);
  }
}

}  // namespace phx::ops::cpu::PHX_ISA_NS

#include "runtime/kv/kv_cache.h"

#include "base/status.h"
#include "base/strings.h"

namespace phx::kv {

int64_t KvCacheConfig::BytesPerBlock() const {
  const int64_t elem = dtype == DType::kF32 ? 4 : 2;
  return 2 * int64_t{n_layers} * block_size * n_kv_heads * head_dim * elem;
}

absl::StatusOr<std::unique_ptr<KvCache>> KvCache::Create(ops::Backend& backend,
                                                         const KvCacheConfig& cfg) {
  if (cfg.n_layers <= 0 || cfg.n_kv_heads <= 0 || cfg.head_dim <= 0 || cfg.num_blocks <= 0 ||
      cfg.block_size <= 0) {
    return absl::InvalidArgumentError("KV cache: every dimension must be positive");
  }
  if (cfg.dtype != DType::kF16 && cfg.dtype != DType::kF32 && cfg.dtype != DType::kBF16) {
    return absl::InvalidArgumentError(StrCat("KV cache: unsupported type ", DTypeName(cfg.dtype)));
  }
  PHX_RETURN_IF_ERROR(backend.CheckSupported(ops::Op::kWriteKv, cfg.dtype));
  PHX_RETURN_IF_ERROR(backend.CheckSupported(ops::Op::kAttention, cfg.dtype));
  std::unique_ptr<KvCache> c(new KvCache(cfg));
  for (int32_t l = 0; l < cfg.n_layers; ++l) {
    for (auto* vec : {&c->k_, &c->v_}) {
      auto buf = backend.Allocate(cfg.dtype,
                                  {cfg.num_blocks, cfg.block_size, cfg.n_kv_heads, cfg.head_dim});
      if (!buf.ok()) {
        return Annotate(buf.status(),
                        StrCat("allocating the KV cache (", cfg.num_blocks, " blocks, ",
                               cfg.BytesPerBlock() * cfg.num_blocks, " bytes)"));
      }
      vec->push_back(std::move(*buf));
    }
  }
  return c;
}

int32_t BlockTable::BlocksNeeded(int32_t total_tokens) const {
  const int32_t need = (total_tokens + block_size_ - 1) / block_size_;
  return std::max(0, need - static_cast<int32_t>(blocks_.size()));
}

absl::Status BlockTable::Reserve(BlockAllocator& alloc, int32_t total_tokens) {
  const int32_t n = BlocksNeeded(total_tokens);
  if (n == 0) return absl::OkStatus();
  return alloc.Allocate(n, &blocks_);
}

void BlockTable::Release(BlockAllocator& alloc) {
  alloc.Release(blocks_);
  blocks_.clear();
}

absl::StatusOr<StepLayout> BuildStepLayout(const std::vector<StepSeq>& seqs, int32_t block_size) {
  StepLayout out;
  auto& a = out.attention;
  a.block_size = block_size;
  a.q_indptr.push_back(0);
  a.kv_indptr.push_back(0);
  for (size_t i = 0; i < seqs.size(); ++i) {
    const StepSeq& s = seqs[i];
    const int32_t total = s.n_past + s.n_new;
    if (s.table == nullptr || s.n_new <= 0 || s.n_past < 0 || total > s.table->capacity()) {
      return absl::InternalError(StrCat("step layout: sequence ", i, " (past ", s.n_past, ", new ",
                                        s.n_new, ") does not fit its block table"));
    }
    const int32_t pages = (total + block_size - 1) / block_size;
    for (int32_t p = 0; p < pages; ++p) a.kv_indices.push_back(s.table->blocks()[p]);
    a.kv_indptr.push_back(static_cast<int32_t>(a.kv_indices.size()));
    a.kv_last_page_len.push_back(total - (pages - 1) * block_size);
    a.q_indptr.push_back(a.q_indptr.back() + s.n_new);
    for (int32_t p = s.n_past; p < total; ++p) {
      out.positions.push_back(p);
      out.slot_mapping.push_back(s.table->Slot(p));
    }
  }
  return out;
}

}  // namespace phx::kv

// A growable, 64-byte aligned scratch buffer (contents not preserved on growth). Buffers of
// kHugeBytes and more (repacked weights, large activations) start on a 2 MiB boundary and ask
// for transparent huge pages (madvise, where the kernel's THP mode is `madvise` or `always`):
// decode streams every weight once per token, and with 4 KiB pages each 4 KiB of a stream costs
// a TLB miss (a two-level walk inside a VM).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace phx::ops::cpu {

class AlignedBuffer {
 public:
  static constexpr size_t kHugeBytes = size_t{2} << 20;

  // Returns at least `bytes` bytes, 64-byte aligned (2 MiB aligned from kHugeBytes on).
  uint8_t* Reserve(size_t bytes) {
    if (bytes > size_) {
      const bool huge = bytes >= kHugeBytes;
      const size_t align = huge ? kHugeBytes : 64;
      const size_t rounded = (bytes + align - 1) / align * align;
      data_.reset(static_cast<uint8_t*>(std::aligned_alloc(align, rounded)));
      size_ = data_ ? rounded : 0;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
      if (huge && data_) ::madvise(data_.get(), rounded, MADV_HUGEPAGE);  // advice only
#endif
    }
    return data_.get();
  }
  uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> data_;
  size_t size_ = 0;
};

}  // namespace phx::ops::cpu

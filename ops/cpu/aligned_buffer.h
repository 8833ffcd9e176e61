// A growable, 64-byte aligned scratch buffer (contents not preserved on growth).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

namespace phx::ops::cpu {

class AlignedBuffer {
 public:
  // Returns at least `bytes` bytes, 64-byte aligned.
  uint8_t* Reserve(size_t bytes) {
    if (bytes > size_) {
      const size_t rounded = (bytes + 63) / 64 * 64;
      data_.reset(static_cast<uint8_t*>(std::aligned_alloc(64, rounded)));
      size_ = data_ ? rounded : 0;
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

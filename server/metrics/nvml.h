// GPU telemetry through NVML, loaded at run time with dlopen("libnvidia-ml.so.1") so the binary
// has no link dependency on the driver: where the library (or a GPU) is missing, Load() returns
// null and the phalanx_gpu_* metrics are simply not exported.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace phx::server {

// One device's reading; a field NVML could not read is negative.
struct GpuSample {
  uint32_t index = 0;
  double utilization_ratio = -1;  // 0..1, the fraction of time a kernel ran (last sample period)
  double memory_used_bytes = -1;
  double memory_total_bytes = -1;
  double temperature_celsius = -1;
  double power_watts = -1;
};

class Nvml {
 public:
  // The loaded and initialized library with at least one device, or null (no library, no
  // driver, no device; `why`, when given, says which).
  static std::unique_ptr<Nvml> Load(std::string* why = nullptr);
  ~Nvml();
  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;

  uint32_t device_count() const { return count_; }
  // Reads every device (thread-compatible: callers serialize).
  std::vector<GpuSample> Sample() const;

 private:
  struct Api;
  Nvml(void* lib, std::unique_ptr<Api> api, uint32_t count);

  void* lib_ = nullptr;
  std::unique_ptr<Api> api_;
  uint32_t count_ = 0;
};

}  // namespace phx::server

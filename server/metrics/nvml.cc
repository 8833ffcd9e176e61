#include "server/metrics/nvml.h"

#include <dlfcn.h>

namespace phx::server {
namespace {

// The few NVML types used here, as nvml.h declares them (stable C ABI).
using nvmlReturn_t = int;
constexpr nvmlReturn_t kNvmlSuccess = 0;
using nvmlDevice_t = struct nvmlDevice_st*;
struct nvmlUtilization_t {
  unsigned int gpu;
  unsigned int memory;
};
struct nvmlMemory_t {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
constexpr int kNvmlTemperatureGpu = 0;

}  // namespace

struct Nvml::Api {
  nvmlReturn_t (*init)() = nullptr;
  nvmlReturn_t (*shutdown)() = nullptr;
  nvmlReturn_t (*count)(unsigned int*) = nullptr;
  nvmlReturn_t (*handle)(unsigned int, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*utilization)(nvmlDevice_t, nvmlUtilization_t*) = nullptr;
  nvmlReturn_t (*memory)(nvmlDevice_t, nvmlMemory_t*) = nullptr;
  nvmlReturn_t (*temperature)(nvmlDevice_t, int, unsigned int*) = nullptr;
  nvmlReturn_t (*power)(nvmlDevice_t, unsigned int*) = nullptr;  // milliwatts
};

namespace {

template <typename Fn>
bool Bind(void* lib, const char* name, Fn* fn) {
  *fn = reinterpret_cast<Fn>(dlsym(lib, name));
  return *fn != nullptr;
}

}  // namespace

std::unique_ptr<Nvml> Nvml::Load(std::string* why) {
  auto fail = [why](std::string msg) -> std::unique_ptr<Nvml> {
    if (why != nullptr) *why = std::move(msg);
    return nullptr;
  };
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* e = dlerror();
    return fail(e != nullptr ? e : "libnvidia-ml.so.1 not found");
  }
  auto api = std::make_unique<Api>();
  const bool ok = Bind(lib, "nvmlInit_v2", &api->init) &&
                  Bind(lib, "nvmlShutdown", &api->shutdown) &&
                  Bind(lib, "nvmlDeviceGetCount_v2", &api->count) &&
                  Bind(lib, "nvmlDeviceGetHandleByIndex_v2", &api->handle) &&
                  Bind(lib, "nvmlDeviceGetUtilizationRates", &api->utilization) &&
                  Bind(lib, "nvmlDeviceGetMemoryInfo", &api->memory) &&
                  Bind(lib, "nvmlDeviceGetTemperature", &api->temperature) &&
                  Bind(lib, "nvmlDeviceGetPowerUsage", &api->power);
  if (!ok) {
    dlclose(lib);
    return fail("libnvidia-ml.so.1 lacks an expected symbol");
  }
  if (api->init() != kNvmlSuccess) {
    dlclose(lib);
    return fail("nvmlInit failed (no driver?)");
  }
  unsigned int count = 0;
  if (api->count(&count) != kNvmlSuccess || count == 0) {
    api->shutdown();
    dlclose(lib);
    return fail("NVML reports no GPU");
  }
  return std::unique_ptr<Nvml>(new Nvml(lib, std::move(api), count));
}

Nvml::Nvml(void* lib, std::unique_ptr<Api> api, uint32_t count)
    : lib_(lib), api_(std::move(api)), count_(count) {}

Nvml::~Nvml() {
  api_->shutdown();
  dlclose(lib_);
}

std::vector<GpuSample> Nvml::Sample() const {
  std::vector<GpuSample> out;
  for (uint32_t i = 0; i < count_; ++i) {
    GpuSample s;
    s.index = i;
    nvmlDevice_t dev = nullptr;
    if (api_->handle(i, &dev) != kNvmlSuccess) {
      out.push_back(s);
      continue;
    }
    nvmlUtilization_t u{};
    if (api_->utilization(dev, &u) == kNvmlSuccess) s.utilization_ratio = u.gpu / 100.0;
    nvmlMemory_t m{};
    if (api_->memory(dev, &m) == kNvmlSuccess) {
      s.memory_used_bytes = static_cast<double>(m.used);
      s.memory_total_bytes = static_cast<double>(m.total);
    }
    unsigned int t = 0;
    if (api_->temperature(dev, kNvmlTemperatureGpu, &t) == kNvmlSuccess) s.temperature_celsius = t;
    unsigned int mw = 0;
    if (api_->power(dev, &mw) == kNvmlSuccess) s.power_watts = mw / 1000.0;
    out.push_back(s);
  }
  return out;
}

}  // namespace phx::server

// Shared helpers for the ops tests (in the style of ggml's test-backend-ops): every backend
// configuration this machine can run (each ISA level x 1 and 3 threads), seeded random inputs
// (the seed is printed; PHX_TEST_SEED=<n> replays a run), NaN-poisoned outputs, and an
// element-by-element comparison against the float64 reference with a per-element tolerance.
#pragma once

#include <cmath>
#include <cstdlib>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "base/strings.h"
#include "gtest/gtest.h"
#include "ops/cpu/cpu_backend.h"
#include "ops/reference/reference.h"

namespace phx::ops::testing {

using ::phx::StrCat;

struct BackendConfig {
  cpu::IsaLevel isa;
  int threads;
  std::string Name() const {
    return std::string(cpu::IsaName(isa)) + "/" + std::to_string(threads) + "t";
  }
};

// Every ISA level up to the best this CPU has, each with 1 and 3 threads.
inline std::vector<BackendConfig> AllConfigs() {
  std::vector<BackendConfig> out;
  for (int l = 0; l <= static_cast<int>(cpu::BestIsa()); ++l) {
    for (int t : {1, 3}) out.push_back({static_cast<cpu::IsaLevel>(l), t});
  }
  return out;
}

// Runs fn(backend) for every configuration, with a trace naming it.
inline void ForEachBackend(const std::function<void(cpu::CpuBackend&)>& fn) {
  for (const BackendConfig& c : AllConfigs()) {
    SCOPED_TRACE(c.Name());
    cpu::CpuBackend b(c.threads, c.isa);
    ASSERT_EQ(b.isa(), c.isa);
    fn(b);
  }
}

// One generator per test, seeded from PHX_TEST_SEED or at random; the seed is printed.
inline std::mt19937_64 MakeRng() {
  uint64_t seed;
  if (const char* env = std::getenv("PHX_TEST_SEED")) {
    seed = std::strtoull(env, nullptr, 10);
  } else {
    seed = std::random_device{}();
  }
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::printf("[ seed ] %s.%s: PHX_TEST_SEED=%llu\n", info ? info->test_suite_name() : "?",
              info ? info->name() : "?", static_cast<unsigned long long>(seed));
  return std::mt19937_64(seed);
}

inline std::vector<float> RandomFloats(std::mt19937_64& rng, size_t n, float lo = -1.f,
                                       float hi = 1.f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

inline std::vector<double> ToDoubles(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// Allocates a tensor on the backend and fills it with NaN (floats) so unwritten outputs show.
inline Buffer Poisoned(cpu::CpuBackend& b, DType t, std::initializer_list<int64_t> shape) {
  auto buf = b.Allocate(t, shape);
  EXPECT_TRUE(buf.ok()) << buf.status();
  EXPECT_TRUE(b.Fill(buf->tensor(), NAN).ok());
  return std::move(buf).value();
}

inline Buffer FromFloats(cpu::CpuBackend& b, const std::vector<float>& v,
                         std::initializer_list<int64_t> shape) {
  auto buf = b.Allocate(DType::kF32, shape);
  EXPECT_TRUE(buf.ok()) << buf.status();
  EXPECT_TRUE(b.CopyToDevice(v.data(), v.size() * 4, buf->tensor()).ok());
  return std::move(buf).value();
}

// Compares every element of `got` with `want`; tol(i) is the allowed absolute error of element
// i. NaN in `got` always fails. Reports the first few mismatches and the count.
inline void ExpectNear(const std::vector<double>& got, const std::vector<double>& want,
                       const std::function<double(size_t)>& tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t bad = 0;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] == want[i]) continue;  // also equal infinities
    const double err = std::fabs(got[i] - want[i]);
    const double t = tol(i);
    if (!(err <= t)) {
      if (bad < 5) {
        ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << want[i]
                      << " err " << err << " tol " << t;
      }
      ++bad;
    }
    if (t > 0) worst = std::max(worst, err / t);
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size() << " elements out of tolerance";
  if (std::getenv("PHX_TEST_VERBOSE") != nullptr) {
    std::printf("  %s: worst error / tolerance = %.3g\n", what.c_str(), worst);
  }
}

}  // namespace phx::ops::testing

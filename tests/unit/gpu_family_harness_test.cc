// The attention bound on the soft-capped and sliding-window cases of the GPU suite
// (tests/gpu/attention_ref.h DecodeOptionCases / PrefillOptionCases), without a GPU: the f32
// emulation of the kExt kernels stays within it, and a kernel that ignored an option or placed
// the window one token off would exceed it by a wide margin - so it fails on the GPU.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "tests/gpu/attention_ref.h"
#include "tests/gpu/harness.h"

namespace phx::gpu_test {
namespace {

constexpr double kCaught = 10.0;

double Worst(const std::vector<double>& got, const std::vector<double>& want,
             const std::vector<double>& tol, const std::string& what) {
  const Verdict v = Judge(got, want, tol);
  std::printf("  %-72s worst err/tol %10.3g\n", what.c_str(), v.worst);
  return v.worst;
}

// Mutated forms of a case: each option off, the window one token wider and narrower.
std::vector<std::pair<std::string, AttnCase>> Bugs(const AttnCase& c) {
  std::vector<std::pair<std::string, AttnCase>> bugs;
  if (c.softcap > 0.f) {
    AttnCase b = c;
    b.softcap = 0.f;
    bugs.emplace_back("soft-cap ignored", b);
  }
  if (c.window > 0) {
    AttnCase b = c;
    b.window = 0;
    bugs.emplace_back("window ignored", b);
    b.window = c.window + 1;
    bugs.emplace_back("window one token wider", b);
    b.window = c.window - 1;
    bugs.emplace_back("window one token narrower", b);
  }
  return bugs;
}

void CheckCase(const AttnCase& c, bool prefill) {
  Rng().seed(kDefaultSeed + c.hd + c.window);
  const AttnData d = BuildAttn(c);
  const AttnRef ref = ReferenceAttn(c, d);
  const std::vector<double> tol = AttnTol(c, ref, prefill);
  const std::string name = c.Name(prefill ? "prefill" : "decode");
  const DType out = prefill ? c.t : c.io;
  EXPECT_LT(Worst(EmulateAttn(c, d, prefill, {}), ref.out, tol, name + " f32 emulation"),
            out == DType::kF32 ? 0.5 : 1.0);
  for (const auto& [what, bug] : Bugs(c)) {
    EXPECT_GE(Worst(ReferenceAttn(bug, d).out, ref.out, tol, name + " " + what), kCaught);
  }
}

TEST(GpuFamilyHarnessTest, DecodeOptionsBoundAllowsF32AndCatchesOptionBugs) {
  const std::vector<AttnCase> cases = DecodeOptionCases();
  ASSERT_FALSE(cases.empty());
  // Every option case of one (dtype, head dim) pair and the f32-q/out one of another.
  for (const AttnCase& c : cases) {
    if ((c.t == DType::kF16 && c.hd == 128) || (c.t == DType::kBF16 && c.hd == 64)) {
      CheckCase(c, false);
    }
  }
}

TEST(GpuFamilyHarnessTest, PrefillOptionsBoundAllowsF32AndCatchesOptionBugs) {
  // The windowed cases in f16 / head dim 64 (soft-cap with them: the soft-cap-only case adds
  // nothing but time); in bf16 / 128 (the smallest margins) the case with both options and the
  // window past one KV tile.
  for (const AttnCase& c : PrefillOptionCases()) {
    if ((c.t == DType::kF16 && c.hd == 64 && c.window > 0) ||
        (c.t == DType::kBF16 && c.hd == 128 && c.softcap > 0.f && c.window == 65)) {
      CheckCase(c, true);
    }
  }
}

}  // namespace
}  // namespace phx::gpu_test

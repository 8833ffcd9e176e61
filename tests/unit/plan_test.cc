#include <gtest/gtest.h>

#include "server/cli/plan.h"

namespace phx::cli {
namespace {

const char* kBench = R"({"prompt_tokens": "128", "gen_tokens": "128", "runs": [
  {"concurrency": 1, "requests_per_s": 0.5, "failed": 0, "ttft_s": {"p99": 0.10}, "itl_s": {"p99": 0.012}},
  {"concurrency": 4, "requests_per_s": 1.6, "failed": 0, "ttft_s": {"p99": 0.30}, "itl_s": {"p99": 0.030}},
  {"concurrency": 16, "requests_per_s": 3.0, "failed": 0, "ttft_s": {"p99": 1.90}, "itl_s": {"p99": 0.090}},
  {"concurrency": 64, "requests_per_s": 3.4, "failed": 2, "ttft_s": {"p99": 9.00}, "itl_s": {"p99": 0.300}}]})";

TEST(Plan, PicksTheBestLevelMeetingTheSloAndAddsASpare) {
  PlanInput in;
  in.target_rps = 10;
  in.slo_ttft_s = 0.5;
  auto r = PlanReplicas(in, kBench);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_DOUBLE_EQ(r->measured_rps, 1.6);  // level 4: level 16 misses TTFT, 64 failed requests
  // 10 / (1.6 * 0.8) = 7.8 -> 8, + 1 spare.
  EXPECT_EQ(r->replicas, 9);
  in.slo_ttft_s = 2.0;
  r = PlanReplicas(in, kBench);
  EXPECT_DOUBLE_EQ(r->measured_rps, 3.0);
  EXPECT_EQ(r->replicas, 6);  // 10 / 2.4 = 4.17 -> 5, + 1
}

TEST(Plan, ScalesCapacityToTheRequestShape) {
  PlanInput in;
  in.target_rps = 10;
  in.prompt_tokens = 64;  // half the tokens of the benchmark's requests: twice the capacity
  in.gen_tokens = 64;
  in.utilization = 1.0;
  in.spare = 1;
  auto r = PlanReplicas(in, kBench);
  ASSERT_TRUE(r.ok());
  // Level 64 had failures: level 16 (3.0 req/s) is the capacity, doubled for the smaller
  // requests; 10 / 6 -> 2 replicas, + 1 spare.
  EXPECT_DOUBLE_EQ(r->capacity_rps, 6.0);
  EXPECT_EQ(r->replicas, 3);
}

TEST(Plan, ErrorsAreClear) {
  PlanInput in;
  in.target_rps = 10;
  in.slo_ttft_s = 0.01;
  EXPECT_EQ(PlanReplicas(in, kBench).status().code(), absl::StatusCode::kFailedPrecondition);
  in.slo_ttft_s = 0;
  EXPECT_EQ(PlanReplicas(in, "{}").status().code(), absl::StatusCode::kInvalidArgument);
  in.target_rps = 0;
  EXPECT_EQ(PlanReplicas(in, kBench).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace phx::cli

// A test suite's server: the tiny Qwen3 model (tests/support/qwen3_model.h: the real Qwen3
// vocabulary and chat template) served in-process with the default test configuration, from the
// suite's first test to its last. A suite derives from Qwen3ServerTest and starts it:
//
//   class Qwen3Chat : public testing::Qwen3ServerTest {
//    protected:
//     static void SetUpTestSuite() { Start("qwen3-synth", 512); }
//   };
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "runtime/tokenizer/tokenizer.h"
#include "tests/integration/grpc_test_server.h"
#include "tests/support/qwen3_model.h"

namespace phx::testing {

class Qwen3ServerTest : public ::testing::Test {
 protected:
  // The model is named `name` (its general.name) and has `context_length` tokens of context.
  static void Start(const std::string& name, int context_length) {
    model_ = new Qwen3Model(name, context_length);
    ASSERT_TRUE(model_->status().ok()) << model_->status();
    server_ = TestServer::Start(TestConfig(model_->path())).release();
    ASSERT_NE(server_, nullptr);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete model_;
    model_ = nullptr;
  }
  static const TestServer& S() { return *server_; }
  static const tok::Tokenizer& Tok() { return server_->app->engine().model().tokenizer(); }

  static inline Qwen3Model* model_ = nullptr;
  static inline TestServer* server_ = nullptr;
};

}  // namespace phx::testing

// A tiny random-weight model carrying the real Qwen3 vocabulary and its embedded chat template
// (Hermes <tool_call> tool calls, a thinking template), synthesized into a temporary file that
// lives as long as the object: the model the chat, tools, gRPC chat, Responses and Anthropic
// integration tests serve. Header-only: PHX_SHARED_DIR is defined for test binaries only.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <system_error>

#include "absl/status/status.h"
#include "runtime/model/synth.h"
#include "tests/support/tiny_synth.h"

namespace phx::testing {

class Qwen3Model {
 public:
  // One layer, 32 wide, F32, tied output; `name` is its general.name, `context_length` its
  // context. status() says whether it was written.
  Qwen3Model(const std::string& name, int context_length) {
    static std::atomic<int> serial{0};
    path_ = (std::filesystem::temp_directory_path() /
             ("phx_" + name + "_" + std::to_string(::getpid()) + "_" + std::to_string(serial++) +
              ".gguf"))
                .string();
    model::SynthOptions so = TinySynth(
        "qwen2", std::string(PHX_SHARED_DIR) + "/vocab/hf/ggml-vocab-qwen3.gguf", context_length);
    so.tied_output = true;
    so.name = name;
    status_ = model::SynthesizeModel(so, path_);
  }
  ~Qwen3Model() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  Qwen3Model(const Qwen3Model&) = delete;
  Qwen3Model& operator=(const Qwen3Model&) = delete;

  const std::string& path() const { return path_; }
  const absl::Status& status() const { return status_; }

 private:
  std::string path_;
  absl::Status status_;
};

}  // namespace phx::testing

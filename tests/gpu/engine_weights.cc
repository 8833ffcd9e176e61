// phx_gpu_engine's "weights" check: how the CUDA backend holds each weight of the model
// (ops/cuda/make_cuda_backend.h CudaWeightFormOf). The tensors of the types without a GEMV kernel
// are dequantized to f16 at load; the backend's count of them (CudaDequantizedAtLoad, the start
// log's line) must equal the file's: the same tensors, their quantized bytes and 2 bytes per
// element on the device. A Q4_K_M or Q5_K_M file has none (it runs quantized).
#include <string>

#include "base/strings.h"
#include "runtime/gguf/gguf.h"
#include "tests/gpu/engine_common.h"

namespace phx::gpu_engine {

void CheckWeightForms(const std::string& name, const Loaded& gpu) {
  auto got = ops::cuda::CudaDequantizedAtLoad(*gpu.backend);
  if (!got.ok()) {
    Report("FAIL", name, "weights", std::string(got.status().message()));
    return;
  }
  ops::cuda::CudaF16AtLoad want;
  int64_t native = 0;
  for (const gguf::TensorInfo& t : gpu.model->file().tensors()) {
    if (t.dims.size() != 2) continue;  // f32 vectors (norms, biases)
    const ops::cuda::CudaWeightForm form = ops::cuda::CudaWeightFormOf(t.type);
    if (form == ops::cuda::CudaWeightForm::kNative) ++native;
    if (form != ops::cuda::CudaWeightForm::kF16AtLoad) continue;
    ++want.tensors;
    want.file_bytes += static_cast<int64_t>(t.n_bytes);
    want.device_bytes += 2 * static_cast<int64_t>(t.n_elements);
  }
  const bool ok = got->tensors == want.tensors && got->file_bytes == want.file_bytes &&
                  got->device_bytes == want.device_bytes;
  Report(ok ? "PASS" : "FAIL", name, "weights",
         StrCat(native, " matrices as stored; ",
                got->tensors > 0 ? got->ToString()
                                 : "none "
                                   "dequantized at load",
                ok ? "" : StrCat(" (want ", want.ToString(), ")")));
}

}  // namespace phx::gpu_engine

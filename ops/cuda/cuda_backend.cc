#include "ops/cuda/cuda_backend.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "base/status.h"
#include "base/strings.h"
#include "kernels/convert.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "ops/cuda/cuda_status.h"
#include "ops/cuda/device_checks.h"
#include "ops/cuda/norm_params.h"

namespace phx::ops::cuda {
namespace {

// Errors that leave the context usable: argument and resource errors of one call, a launch
// refused for its resources (nothing ran), and the errors of a stream capture (the capture is
// abandoned, the context is fine; RunGraph falls back to an eager step).
bool IsRecoverable(cudaError_t e) {
  switch (e) {
    case cudaErrorInvalidValue:
    case cudaErrorNotSupported:
    case cudaErrorMemoryAllocation:
    case cudaErrorInvalidConfiguration:
    case cudaErrorInvalidDevice:
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorLaunchOutOfResources:
    case cudaErrorStreamCaptureUnsupported:
    case cudaErrorStreamCaptureInvalidated:
    case cudaErrorStreamCaptureMerge:
    case cudaErrorStreamCaptureUnmatched:
    case cudaErrorStreamCaptureUnjoined:
    case cudaErrorStreamCaptureIsolation:
    case cudaErrorStreamCaptureImplicit:
    case cudaErrorStreamCaptureWrongThread:
    case cudaErrorCapturedEvent:
    case cudaErrorGraphExecUpdateFailure:
      return true;
    default:
      return false;
  }
}

double MiB(int64_t bytes) { return static_cast<double>(bytes) / 1048576.0; }

}  // namespace

absl::StatusOr<std::unique_ptr<CudaBackend>> CudaBackend::Create(const CudaBackendOptions& o) {
  if (!(o.gpu_memory_utilization > 0.f && o.gpu_memory_utilization <= 1.f)) {
    return absl::InvalidArgumentError(
        StrCat("gpu_memory_utilization ", o.gpu_memory_utilization, " must be in (0, 1]"));
  }
  if (o.f32_weight_type != DType::kF16 && o.f32_weight_type != DType::kBF16) {
    return absl::InvalidArgumentError(
        StrCat("f32 weights can be converted to f16 or bf16, not ", DTypeName(o.f32_weight_type)));
  }
  if (o.dequant_workspace_bytes < 0) {
    return absl::InvalidArgumentError("dequant_workspace_bytes must not be negative");
  }
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();
    return absl::FailedPreconditionError("cuda backend: no CUDA device is present");
  }
  if (o.device < 0 || o.device >= count) {
    return absl::InvalidArgumentError(
        StrCat("cuda backend: device ", o.device, " does not exist (", count, " devices)"));
  }
  PHX_CUDA_RETURN_IF_ERROR(cudaSetDevice(o.device), StrCat("cudaSetDevice(", o.device, ")"));
  std::unique_ptr<CudaBackend> b(new CudaBackend(o));
  cudaDeviceProp prop{};
  PHX_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, o.device), "cudaGetDeviceProperties");
  b->device_name_ = prop.name;
  b->num_sms_ = prop.multiProcessorCount;
  b->wgmma_ = o.use_wgmma && kernels::WgmmaGemmSupported(o.device);
  PHX_ASSIGN_OR_RETURN(b->stream_, CudaStream::Create());
  PHX_ASSIGN_OR_RETURN(b->cublas_, CublasHandle::Create());
  return b;
}

CudaBackend::~CudaBackend() {
  // Work queued on the stream may still read scratch buffers freed after this.
  if (stream_.get() != nullptr) cudaStreamSynchronize(stream_.get());
  for (auto& [key, g] : graphs_) DestroyGraph(g);
}

bool CudaBackend::Supports(Op op, DType dtype) const {
  switch (op) {
    case Op::kMatmul:
    case Op::kEmbedding:
      return CudaWeightFormOf(dtype) != CudaWeightForm::kNone;
    case Op::kWriteKv:
    case Op::kAttention:
      return dtype == DType::kF16 || dtype == DType::kBF16;
    case Op::kPenalties:
      return false;           // the sampler applies penalties on the host (ops/logits.h)
    case Op::kMatmulExperts:  // the expert weight type (kernels/moe.h)
      return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16 ||
             dtype == DType::kQ8_0 || dtype == DType::kQ4_K || dtype == DType::kQ6_K;
    case Op::kLayerNorm:  // the encoder (bert) ops: CPU only for now
    case Op::kGelu:
    case Op::kBidirectionalAttention:
      return false;
    default:
      return dtype == DType::kF32;
  }
}

absl::Status CudaBackend::Check(cudaError_t e, std::string_view what) {
  if (e == cudaSuccess) return absl::OkStatus();
  if (e == cudaErrorLaunchOutOfResources) {
    cudaGetLastError();  // not sticky: clear it
    return absl::ResourceExhaustedError(
        StrCat("cuda backend: ", what,
               ": the launch needs more registers or shared memory per block than ", device_name_,
               " offers (cudaErrorLaunchOutOfResources); nothing ran"));
  }
  absl::Status s = CudaStatus(e, what);
  if (!IsRecoverable(e) && sticky_.ok()) {
    sticky_ = absl::InternalError(
        StrCat("sticky CUDA error (the device context is unusable): ", s.message()));
    return sticky_;
  }
  return s;
}

absl::Status CudaBackend::Enter() {
  PHX_RETURN_IF_ERROR(Healthy());
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current == opt_.device) return absl::OkStatus();
  return Check(cudaSetDevice(opt_.device), StrCat("cudaSetDevice(", opt_.device, ")"));
}

absl::Status CudaBackend::MemoryInfo(int64_t* free_bytes, int64_t* total_bytes) {
  PHX_RETURN_IF_ERROR(Enter());
  size_t f = 0, t = 0;
  PHX_RETURN_IF_ERROR(Check(cudaMemGetInfo(&f, &t), "cudaMemGetInfo"));
  *free_bytes = static_cast<int64_t>(f);
  *total_bytes = static_cast<int64_t>(t);
  return absl::OkStatus();
}

absl::StatusOr<Buffer> CudaBackend::AllocateBytes(Tensor t, size_t bytes, std::string_view what) {
  PHX_RETURN_IF_ERROR(Enter());
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, std::max<size_t>(bytes, 1));
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    size_t f = 0, total = 0;
    cudaMemGetInfo(&f, &total);
    return absl::ResourceExhaustedError(
        StrCat("cuda backend: out of device memory allocating ", what, ": ",
               fmt::format("{:.1f} MiB requested, {:.1f} MiB free of {:.1f} MiB on {} (weights "
                           "uploaded so far {:.1f} MiB)",
                           MiB(static_cast<int64_t>(bytes)), MiB(static_cast<int64_t>(f)),
                           MiB(static_cast<int64_t>(total)), device_name_, MiB(weight_bytes_))));
  }
  PHX_RETURN_IF_ERROR(Check(e, StrCat("cudaMalloc(", bytes, ") for ", what)));
  t.data = p;
  t.device = Device::kCuda;
  return Buffer(t, [](void* ptr) { cudaFree(ptr); });
}

absl::StatusOr<Buffer> CudaBackend::Allocate(DType dtype, std::initializer_list<int64_t> shape) {
  if (shape.size() < 1 || shape.size() > 4) {
    return absl::InvalidArgumentError(StrCat("allocate: ", shape.size(), " dimensions"));
  }
  Tensor t = Tensor::View(static_cast<void*>(nullptr), dtype, shape, Device::kCuda);
  for (int i = 0; i < t.ndim; ++i) {
    if (t.shape[i] < 0) {
      return absl::InvalidArgumentError(StrCat("allocate: negative dimension ", t.ShapeString()));
    }
  }
  if (!GetDTypeInfo(dtype) || (t.row_bytes() == 0 && t.cols() != 0)) {
    return absl::InvalidArgumentError(
        StrCat("allocate: unsupported dtype or partial block ", t.ShapeString()));
  }
  return AllocateBytes(t, static_cast<size_t>(t.nbytes()), t.ShapeString());
}

absl::Status CudaBackend::Reserve(DeviceBuffer& buf, size_t bytes, std::string_view what) {
  PHX_RETURN_IF_ERROR(Healthy());
  if (buf.size() >= bytes) return absl::OkStatus();
  if (capturing_) {
    return absl::FailedPreconditionError(
        StrCat("cuda backend: scratch for ", what, " would grow during a graph capture"));
  }
  // Round up so that slowly growing steps do not reallocate every time.
  const size_t want = std::max(bytes, buf.size() + buf.size() / 2);
  // Kernels queued earlier may still read the old buffer: wait for them before freeing it (do
  // not rely on cudaFree's implicit synchronization, which stream-ordered allocators drop).
  PHX_RETURN_IF_ERROR(Check(cudaStreamSynchronize(stream_.get()), "scratch resize"));
  buf.Reset();
  ++scratch_generation_;  // recorded graphs hold the old pointer
  auto nb = DeviceBuffer::Allocate(want);
  if (!nb.ok()) {
    return Annotate(nb.status(), StrCat("cuda backend: scratch for ", what));
  }
  buf = std::move(*nb);
  return absl::OkStatus();
}

absl::Status CudaBackend::CopyToDevice(const void* host, size_t bytes, const Tensor& dst) {
  PHX_RETURN_IF_ERROR(Enter());  // a step starts with its input copies
  PHX_RETURN_IF_ERROR(CheckDevice("copy_to_device", "dst", dst));
  const int64_t rb = dst.row_bytes();
  if (static_cast<int64_t>(bytes) != dst.rows() * rb) {
    return absl::InvalidArgumentError(
        StrCat("copy_to_device: ", bytes, " bytes do not fill the tensor ", dst.ShapeString()));
  }
  if (bytes == 0) return absl::OkStatus();
  // Pageable host memory is staged before the call returns, so `host` may go away after it.
  return Check(cudaMemcpy2DAsync(dst.data, dst.stride(), host, rb, rb, dst.rows(),
                                 cudaMemcpyHostToDevice, stream_.get()),
               "copy_to_device");
}

absl::Status CudaBackend::CopyToHost(const Tensor& src, void* host, size_t bytes) {
  PHX_RETURN_IF_ERROR(Healthy());
  PHX_RETURN_IF_ERROR(CheckDevice("copy_to_host", "src", src));
  const int64_t rb = src.row_bytes();
  if (static_cast<int64_t>(bytes) != src.rows() * rb) {
    return absl::InvalidArgumentError(
        StrCat("copy_to_host: ", bytes, " bytes do not match the tensor ", src.ShapeString()));
  }
  if (bytes == 0) return absl::OkStatus();
  PHX_RETURN_IF_ERROR(Check(cudaMemcpy2DAsync(host, rb, src.data, src.stride(), rb, src.rows(),
                                              cudaMemcpyDeviceToHost, stream_.get()),
                            "copy_to_host"));
  // The step's one synchronization point: errors raised by any kernel of the step surface here.
  return Check(cudaStreamSynchronize(stream_.get()), "copy_to_host: stream synchronize");
}

absl::Status CudaBackend::Fill(const Tensor& dst, float value) {
  PHX_RETURN_IF_ERROR(CheckDevice("fill", "dst", dst));
  PHX_RETURN_IF_ERROR(CheckInt32("fill", "rows", dst.rows()));
  PHX_RETURN_IF_ERROR(CheckInt32("fill", "cols", dst.cols()));
  kernels::FillParams p;
  p.out = dst.data;
  p.dtype = dst.dtype;
  p.stride = ElemStride(dst);
  p.rows = static_cast<int32_t>(dst.rows());
  p.cols = static_cast<int32_t>(dst.cols());
  p.value = value;
  return Run(kernels::LaunchFill, p, "fill");
}

absl::Status CudaBackend::Synchronize() {
  PHX_RETURN_IF_ERROR(Healthy());
  return Check(cudaStreamSynchronize(stream_.get()), "synchronize");
}

absl::Status CudaBackend::RmsNorm(const Tensor& x, const Tensor& w, float eps, const Tensor& y) {
  PHX_RETURN_IF_ERROR(CheckDeviceF32("rms_norm", "x", x, -1, -1));
  const int64_t D = x.cols();
  // A shorter w normalizes each group of w.cols() columns on its own (per-head q/k norm).
  const int64_t G = w.cols();
  if (G <= 0 || G > D || D % G != 0) {
    return absl::InvalidArgumentError(
        StrCat("rms_norm: w ", w.ShapeString(), " must have D or a divisor of D = ", D, " values"));
  }
  PHX_RETURN_IF_ERROR(CheckDeviceF32("rms_norm", "w", w, 1, G));
  PHX_RETURN_IF_ERROR(CheckDeviceF32("rms_norm", "y", y, x.rows(), D));
  kernels::RmsNormParams p = F32RmsNormParams(x, w, eps, y);
  p.group = G < D ? static_cast<int32_t>(G) : 0;
  return Run(kernels::LaunchRmsNorm, p, G < D ? "rms_norm (per head)" : "rms_norm");
}

absl::Status CudaBackend::AddRmsNorm(const Tensor& x, const Tensor& delta, const Tensor& w,
                                     float eps, const Tensor& y) {
  if (!opt_.fuse_ops) return Backend::AddRmsNorm(x, delta, w, eps, y);
  PHX_RETURN_IF_ERROR(CheckDeviceF32("add_rms_norm", "x", x, -1, -1));
  const int64_t D = x.cols();
  PHX_RETURN_IF_ERROR(CheckDeviceF32("add_rms_norm", "delta", delta, x.rows(), D));
  PHX_RETURN_IF_ERROR(CheckDeviceF32("add_rms_norm", "w", w, 1, D));
  PHX_RETURN_IF_ERROR(CheckDeviceF32("add_rms_norm", "y", y, x.rows(), D));
  // The kernel's residual form: x (the stream) += delta, then y = norm(x) * w.
  kernels::RmsNormParams p = F32RmsNormParams(delta, w, eps, y);
  p.residual = x.data;
  p.residual_stride = ElemStride(x);
  return Run(kernels::LaunchRmsNorm, p, "add_rms_norm");
}

absl::Status CudaBackend::SwiGlu(const Tensor& gate, const Tensor& up, const Tensor& out) {
  return GatedUnit("swiglu", gate, up, out, /*gelu_tanh=*/false);
}

absl::Status CudaBackend::GatedUnit(std::string_view op, const Tensor& gate, const Tensor& up,
                                    const Tensor& out, bool gelu_tanh) {
  PHX_RETURN_IF_ERROR(CheckDeviceF32(op, "gate", gate, -1, -1));
  PHX_RETURN_IF_ERROR(CheckDeviceF32(op, "up", up, gate.rows(), gate.cols()));
  PHX_RETURN_IF_ERROR(CheckDeviceF32(op, "out", out, gate.rows(), gate.cols()));
  kernels::SwiGluParams p;
  p.gate = gate.data;
  p.gate_stride = ElemStride(gate);
  p.up = up.data;
  p.up_stride = ElemStride(up);
  p.out = out.data;
  p.out_stride = ElemStride(out);
  p.dtype = DType::kF32;
  p.rows = static_cast<int32_t>(gate.rows());
  p.dim = static_cast<int32_t>(gate.cols());
  p.gelu_tanh = gelu_tanh;
  return Run(kernels::LaunchSwiGlu, p, op);
}

absl::Status CudaBackend::Add(const Tensor& a, const Tensor& b, const Tensor& out) {
  PHX_RETURN_IF_ERROR(CheckDeviceF32("add", "a", a, -1, -1));
  PHX_RETURN_IF_ERROR(CheckDeviceF32("add", "b", b, a.rows(), a.cols()));
  PHX_RETURN_IF_ERROR(CheckDeviceF32("add", "out", out, a.rows(), a.cols()));
  kernels::AddParams p;
  p.a = static_cast<const float*>(a.data);
  p.a_stride = ElemStride(a);
  p.b = static_cast<const float*>(b.data);
  p.b_stride = ElemStride(b);
  p.out = static_cast<float*>(out.data);
  p.out_stride = ElemStride(out);
  p.rows = static_cast<int32_t>(a.rows());
  p.cols = static_cast<int32_t>(a.cols());
  return Run(kernels::LaunchAdd, p, "add");
}

absl::Status CudaBackend::Embedding(const Tensor& table, const Tensor& ids, const Tensor& out) {
  return ScaledEmbedding(table, ids, 1.f, out);
}

absl::Status CudaBackend::ScaledEmbedding(const Tensor& table, const Tensor& ids, float scale,
                                          const Tensor& out) {
  if (!std::isfinite(scale)) {
    return absl::InvalidArgumentError(StrCat("embedding: scale ", scale, " is not finite"));
  }
  PHX_RETURN_IF_ERROR(CheckDevice("embedding", "table", table));
  PHX_RETURN_IF_ERROR(CheckSupported(Op::kEmbedding, table.dtype));
  if (table.ndim != 2) {
    return absl::InvalidArgumentError(
        StrCat("embedding: table must be 2-D [vocab, dim] (", table.ShapeString(), ")"));
  }
  if (!table.packed()) {
    return absl::InvalidArgumentError(
        StrCat("embedding: table must be packed (", table.ShapeString(), ")"));
  }
  const int64_t n = ids.numel();
  PHX_RETURN_IF_ERROR(CheckDeviceI32("embedding", "ids", ids, n));
  PHX_RETURN_IF_ERROR(CheckDeviceF32("embedding", "out", out, n, table.cols()));
  kernels::EmbeddingParams p;
  p.table = table.data;
  p.table_dtype = table.dtype;
  p.vocab = table.shape[0];
  p.ids = static_cast<const int32_t*>(ids.data);
  p.out = out.data;
  p.out_stride = ElemStride(out);
  p.out_dtype = DType::kF32;
  p.num_tokens = static_cast<int32_t>(n);
  p.dim = static_cast<int32_t>(table.cols());
  p.scale = scale;
  return Run(kernels::LaunchEmbedding, p, "embedding");
}

absl::Status CudaBackend::Softmax(const Tensor& x, float temperature, const Tensor& out) {
  PHX_RETURN_IF_ERROR(CheckDeviceF32("softmax", "x", x, -1, -1));
  PHX_RETURN_IF_ERROR(CheckDeviceF32("softmax", "out", out, x.rows(), x.cols()));
  if (!(temperature > 0.f) || !std::isfinite(temperature)) {
    return absl::InvalidArgumentError(
        StrCat("softmax: temperature ", temperature, " must be positive and finite"));
  }
  kernels::SoftmaxParams p;
  p.x = static_cast<const float*>(x.data);
  p.x_stride = ElemStride(x);
  p.out = static_cast<float*>(out.data);
  p.out_stride = ElemStride(out);
  p.rows = static_cast<int32_t>(x.rows());
  p.cols = static_cast<int32_t>(x.cols());
  p.inv_temperature = 1.f / temperature;
  return Run(kernels::LaunchSoftmax, p, "softmax");
}

absl::Status CudaBackend::ApplyPenalties(const Tensor& logits, std::span<const PenaltyRow> rows) {
  (void)logits;
  (void)rows;
  return CheckSupported(Op::kPenalties, DType::kF32);
}

}  // namespace phx::ops::cuda

// CudaBackend: weight upload (AdoptWeight) and the matrix product.
#include <algorithm>
#include <cstring>
#include <vector>

#include "base/status.h"
#include "base/strings.h"
#include "kernels/convert.h"
#include "kernels/gemm.h"
#include "kernels/quant_layout.h"
#include "ops/cuda/cuda_backend.h"
#include "ops/cuda/device_checks.h"

namespace phx::ops::cuda {
namespace {

bool IsQuantized(DType t) { return t == DType::kQ8_0 || t == DType::kQ4_K; }

// Rows of an f32 matrix converted per upload chunk (bounds the host staging memory).
constexpr int64_t kConvertChunkElems = int64_t{1} << 22;

}  // namespace

absl::StatusOr<Buffer> CudaBackend::AdoptWeight(const Tensor& host) {
  PHX_RETURN_IF_ERROR(Healthy());
  if (host.device != Device::kCpu || host.ndim < 1 || host.ndim > 2 || !host.packed() ||
      (host.data == nullptr && host.numel() != 0)) {
    return absl::InvalidArgumentError(StrCat(
        "adopt_weight: expected a packed 1-D or 2-D host tensor (", host.ShapeString(), ")"));
  }
  const int64_t rows = host.rows(), cols = host.cols();
  Tensor dev = host;
  dev.row_stride = 0;
  dev.device = Device::kCuda;
  const bool vector = host.ndim == 1;
  if (host.dtype == DType::kF32 && !vector) dev.dtype = opt_.f32_weight_type;
  if (!vector) PHX_RETURN_IF_ERROR(CheckSupported(Op::kMatmul, host.dtype));
  if (vector && host.dtype != DType::kF32) {
    return absl::UnimplementedError(
        StrCat("cuda backend: 1-D weight of type ", DTypeName(host.dtype), " (expected f32)"));
  }
  size_t bytes = static_cast<size_t>(host.nbytes());
  if (IsQuantized(host.dtype)) {
    bytes = kernels::DeviceMatrixBytes(host.dtype, rows, cols);
    if (bytes == 0) {
      return absl::UnimplementedError(StrCat("cuda backend: matmul weight ", host.ShapeString(),
                                             ": ", DTypeName(host.dtype),
                                             " rows must be whole blocks"));
    }
  } else if (dev.dtype != host.dtype) {
    bytes = static_cast<size_t>(rows * cols * 2);
  }
  PHX_ASSIGN_OR_RETURN(Buffer buf,
                       AllocateBytes(dev, bytes, StrCat("weight ", host.ShapeString())));
  cudaStream_t s = stream_.get();
  if (host.dtype == DType::kQ8_0) {
    std::vector<uint8_t> planar(bytes);
    kernels::RepackQ8_0ToPlanar(host.data, rows, cols, planar.data());
    PHX_RETURN_IF_ERROR(Check(
        cudaMemcpyAsync(buf.data(), planar.data(), bytes, cudaMemcpyHostToDevice, s), "upload"));
    PHX_RETURN_IF_ERROR(Check(cudaStreamSynchronize(s), "upload"));
  } else if (dev.dtype != host.dtype) {  // f32 matrix -> f16/bf16
    const int64_t n = rows * cols;
    std::vector<uint16_t> half(static_cast<size_t>(std::min(n, kConvertChunkElems)));
    const float* src = static_cast<const float*>(host.data);
    for (int64_t off = 0; off < n; off += kConvertChunkElems) {
      const int64_t len = std::min(kConvertChunkElems, n - off);
      for (int64_t i = 0; i < len; ++i) {
        half[i] = dev.dtype == DType::kF16 ? F32ToF16(src[off + i]) : F32ToBF16(src[off + i]);
      }
      PHX_RETURN_IF_ERROR(Check(cudaMemcpyAsync(static_cast<uint16_t*>(buf.data()) + off,
                                                half.data(), len * 2, cudaMemcpyHostToDevice, s),
                                "upload"));
      PHX_RETURN_IF_ERROR(Check(cudaStreamSynchronize(s), "upload"));  // `half` is reused
    }
  } else {
    PHX_RETURN_IF_ERROR(
        Check(cudaMemcpyAsync(buf.data(), host.data, bytes, cudaMemcpyHostToDevice, s), "upload"));
    PHX_RETURN_IF_ERROR(Check(cudaStreamSynchronize(s), "upload"));
  }
  weight_bytes_ += static_cast<int64_t>(bytes);
  return buf;
}

absl::Status CudaBackend::ToHalf(const Tensor& x, DType dtype, DeviceBuffer& dst,
                                 std::string_view what) {
  PHX_RETURN_IF_ERROR(Reserve(dst, static_cast<size_t>(x.rows() * x.cols() * 2), what));
  kernels::ConvertParams p;
  p.in = x.data;
  p.in_stride = ElemStride(x);
  p.in_dtype = DType::kF32;
  p.out = dst.data();
  p.out_stride = x.cols();
  p.out_dtype = dtype;
  p.rows = static_cast<int32_t>(x.rows());
  p.cols = static_cast<int32_t>(x.cols());
  return Run(kernels::LaunchConvert, p, StrCat(what, ": f32 -> ", DTypeName(dtype)));
}

absl::Status CudaBackend::DenseGemm(const void* x16, DType act, const void* w, int64_t ldw,
                                    const Tensor& y, int32_t m, int32_t n, int32_t k) {
  kernels::GemmParams p;
  p.x = x16;
  p.ldx = k;
  p.w = w;
  p.ldw = ldw;
  p.y = y.data;
  p.ldy = ElemStride(y);
  p.dtype = act;
  p.y_dtype = DType::kF32;
  p.m = m;
  p.n = n;
  p.k = k;
  switch (kernels::ChooseGemmPath(act, m, wgmma_, opt_.prefer_cublas, /*max_gemv_rows=*/0)) {
    case kernels::GemmPath::kCublas:
      PHX_RETURN_IF_ERROR(Healthy());
      kernels::ClearErrorMessage();
      return Check(kernels::LaunchCublasGemm(p, cublas_.get(), stream_.get()), "matmul (cublas)");
    case kernels::GemmPath::kWgmma:
      return Run(kernels::LaunchWgmmaGemm, p, "matmul (wgmma)");
    default:
      return Run(kernels::LaunchMmaGemm, p, "matmul (mma)");
  }
}

absl::Status CudaBackend::WeightGemv(const void* x16, DType act, const Tensor& w, const Tensor& y,
                                     int32_t m) {
  kernels::WeightGemvParams p;
  p.x = x16;
  p.ldx = w.shape[1];
  p.act_dtype = act;
  p.w = w.data;
  p.w_dtype = w.dtype;
  p.y = y.data;
  p.ldy = ElemStride(y);
  p.y_dtype = DType::kF32;
  p.m = m;
  p.n = static_cast<int32_t>(w.shape[0]);
  p.k = static_cast<int32_t>(w.shape[1]);
  return Run(kernels::LaunchWeightGemv, p, StrCat("matmul (", DTypeName(w.dtype), " gemv)"));
}

absl::Status CudaBackend::Matmul(const Tensor& x, const Tensor& w, const Tensor* bias,
                                 const Tensor& y) {
  PHX_RETURN_IF_ERROR(Healthy());
  PHX_RETURN_IF_ERROR(CheckDevice("matmul", "w", w));
  PHX_RETURN_IF_ERROR(CheckSupported(Op::kMatmul, w.dtype));
  if (w.dtype == DType::kF32) {
    return absl::UnimplementedError(
        "cuda backend: matmul with f32 weights (AdoptWeight converts them to f16/bf16)");
  }
  if (w.ndim != 2 || !w.packed()) {
    return absl::InvalidArgumentError(
        StrCat("matmul: w must be a packed 2-D [N, K] tensor (", w.ShapeString(), ")"));
  }
  const int64_t N = w.shape[0], K = w.shape[1];
  PHX_RETURN_IF_ERROR(CheckInt32("matmul", "N", N));
  PHX_RETURN_IF_ERROR(CheckInt32("matmul", "K", K));
  PHX_RETURN_IF_ERROR(CheckDeviceF32("matmul", "x", x, -1, K));
  const int64_t M = x.rows();
  PHX_RETURN_IF_ERROR(CheckDeviceF32("matmul", "y", y, M, N));
  if (bias != nullptr) PHX_RETURN_IF_ERROR(CheckDeviceF32("matmul", "bias", *bias, 1, N));
  if (M == 0 || N == 0) return absl::OkStatus();
  if (K == 0) {  // an empty sum: y = bias
    PHX_RETURN_IF_ERROR(Fill(y, 0.f));
  } else {
    const DType act = w.dtype == DType::kBF16 ? DType::kBF16 : DType::kF16;
    PHX_RETURN_IF_ERROR(ToHalf(x, act, act16_, "matmul"));
    const int32_t m = static_cast<int32_t>(M), n = static_cast<int32_t>(N),
                  k = static_cast<int32_t>(K);
    const kernels::GemmPath path = kernels::ChooseGemmPath(w.dtype, m, wgmma_, opt_.prefer_cublas);
    if (path == kernels::GemmPath::kGemv) {
      PHX_RETURN_IF_ERROR(WeightGemv(act16_.data(), act, w, y, m));
    } else if (IsQuantized(w.dtype)) {
      const size_t bytes = static_cast<size_t>(N * K * 2);
      if (static_cast<int64_t>(bytes) > opt_.dequant_workspace_bytes) {
        PHX_RETURN_IF_ERROR(WeightGemv(act16_.data(), act, w, y, m));  // passes of 8 rows
      } else {
        PHX_RETURN_IF_ERROR(Reserve(dequant_, bytes, "dequantized weights"));
        kernels::DequantizeParams d;
        d.w = w.data;
        d.w_dtype = w.dtype;
        d.out = dequant_.data();
        d.out_dtype = act;
        d.rows = N;
        d.cols = K;
        PHX_RETURN_IF_ERROR(Run(kernels::LaunchDequantize, d, "matmul: dequantize"));
        PHX_RETURN_IF_ERROR(DenseGemm(act16_.data(), act, dequant_.data(), K, y, m, n, k));
      }
    } else {
      PHX_RETURN_IF_ERROR(DenseGemm(act16_.data(), act, w.data, K, y, m, n, k));
    }
  }
  if (bias == nullptr) return absl::OkStatus();
  kernels::AddParams a;
  a.a = static_cast<const float*>(y.data);
  a.a_stride = ElemStride(y);
  a.b = static_cast<const float*>(bias->data);
  a.b_stride = 0;
  a.out = static_cast<float*>(y.data);
  a.out_stride = ElemStride(y);
  a.rows = static_cast<int32_t>(M);
  a.cols = static_cast<int32_t>(N);
  return Run(kernels::LaunchAdd, a, "matmul: bias");
}

}  // namespace phx::ops::cuda

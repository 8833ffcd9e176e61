// CudaBackend: weight upload (AdoptWeight) and the matrix product.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
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

// Quantized types the kernels read as they are (GEMV, dequantize + GEMM, embedding gather).
bool IsCudaQuantType(DType t) {
  return t == DType::kQ8_0 || t == DType::kQ4_K || t == DType::kQ5_K || t == DType::kQ6_K;
}

// Rows of an f32 matrix converted per upload chunk (bounds the host staging memory).
constexpr int64_t kConvertChunkElems = int64_t{1} << 22;

}  // namespace

absl::StatusOr<Buffer> CudaBackend::AdoptWeight(const Tensor& host) {
  PHX_RETURN_IF_ERROR(Healthy());
  // 3-D: experts [E, N, K], stored (and Q8_0/Q6_K repacked) as one [E * N, K] matrix.
  if (host.device != Device::kCpu || host.ndim < 1 || host.ndim > 3 || !host.packed() ||
      (host.data == nullptr && host.numel() != 0)) {
    return absl::InvalidArgumentError(StrCat(
        "adopt_weight: expected a packed 1-D, 2-D or 3-D host tensor (", host.ShapeString(), ")"));
  }
  const int64_t rows = host.rows(), cols = host.cols();
  Tensor dev = host;
  dev.row_stride = 0;
  dev.device = Device::kCuda;
  const bool vector = host.ndim == 1;
  const bool f16_at_load = !vector && CudaWeightFormOf(host.dtype) == CudaWeightForm::kF16AtLoad;
  if (host.dtype == DType::kF32 && !vector) dev.dtype = opt_.f32_weight_type;
  if (f16_at_load) dev.dtype = DType::kF16;
  if (!vector) PHX_RETURN_IF_ERROR(CheckSupported(Op::kMatmul, host.dtype));
  if (vector && host.dtype != DType::kF32) {
    return absl::UnimplementedError(
        StrCat("cuda backend: 1-D weight of type ", DTypeName(host.dtype), " (expected f32)"));
  }
  size_t bytes = static_cast<size_t>(host.nbytes());
  if (IsCudaQuantType(host.dtype)) {
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
  if (f16_at_load) {
    PHX_RETURN_IF_ERROR(UploadDequantized(host, buf.data()));
    CudaF16AtLoad& d = f16_at_load_;
    const std::string_view type = DTypeName(host.dtype);
    ++d.tensors;
    d.file_bytes += host.nbytes();
    d.device_bytes += static_cast<int64_t>(bytes);
    if (StrCat(", ", d.types, ", ").find(StrCat(", ", type, ", ")) == std::string::npos) {
      d.types = d.types.empty() ? std::string(type) : StrCat(d.types, ", ", type);
    }
  } else if (host.dtype == DType::kQ8_0 || host.dtype == DType::kQ6_K) {
    std::vector<uint8_t> planar(bytes);
    if (host.dtype == DType::kQ8_0) {
      kernels::RepackQ8_0ToPlanar(host.data, rows, cols, planar.data());
    } else {
      kernels::RepackQ6_KToPlanar(host.data, rows, cols, planar.data());
    }
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

absl::Status CudaBackend::UploadDequantized(const Tensor& host, void* dst) {
  const int64_t n = host.rows() * host.cols();
  const std::optional<uint64_t> row = RowBytes(host.dtype, static_cast<uint64_t>(host.cols()));
  if (!row.has_value() || static_cast<int64_t>(*row) * host.rows() != host.nbytes()) {
    return absl::UnimplementedError(StrCat("cuda backend: weight ", host.ShapeString(), ": ",
                                           DTypeName(host.dtype), " rows must be whole blocks"));
  }
  PHX_ASSIGN_OR_RETURN(DeviceBuffer blocks,
                       DeviceBuffer::Allocate(static_cast<size_t>(host.nbytes())));
  cudaStream_t s = stream_.get();
  PHX_RETURN_IF_ERROR(blocks.CopyFromHost(host.data, blocks.size(), s));
  kernels::DequantizeBlocksParams p;
  p.src = blocks.data();
  p.src_dtype = host.dtype;
  p.out = dst;
  p.out_dtype = DType::kF16;
  p.n = n;
  PHX_RETURN_IF_ERROR(Run(kernels::LaunchDequantizeBlocks, p,
                          StrCat("upload: ", DTypeName(host.dtype), " -> f16")));
  // `blocks` is freed on return: the kernel must be done with it.
  return Check(cudaStreamSynchronize(s), "upload");
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
  const kernels::GemmPath path = kernels::ChooseGemmPath(
      act, m, wgmma_, opt_.prefer_cublas || gemm_fallback_, /*max_gemv_rows=*/0);
  absl::Status s;
  if (path == kernels::GemmPath::kWgmma) {
    s = Run(kernels::LaunchWgmmaGemm, p, "matmul (wgmma)");
  } else if (path == kernels::GemmPath::kMma) {
    s = Run(kernels::LaunchMmaGemm, p, "matmul (mma)");
  }
  // Our tensor-core kernels refused for their registers/shared memory (nothing ran): cuBLAS
  // from now on.
  if (absl::IsResourceExhausted(s) && sticky_.ok()) gemm_fallback_ = true;
  if (path != kernels::GemmPath::kCublas && !gemm_fallback_) return s;
  PHX_RETURN_IF_ERROR(Healthy());
  kernels::ClearErrorMessage();
  ++counters_.launches;
  return Check(kernels::LaunchCublasGemm(p, cublas_.get(), stream_.get()), "matmul (cublas)");
}

absl::Status CudaBackend::WeightGemv(const void* x16, DType act, const Tensor& w, const Tensor& y,
                                     int32_t m) {
  kernels::WeightGemvParams p;
  p.x = x16;
  p.ldx = w.shape[1];  // x16 is packed [m, k]
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

absl::Status CudaBackend::CheckMatmul(const Tensor& x, const Tensor& w, const Tensor* bias,
                                      const Tensor& y, int32_t* n, int32_t* k) {
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
  PHX_RETURN_IF_ERROR(CheckDeviceF32("matmul", "y", y, x.rows(), N));
  if (bias != nullptr) PHX_RETURN_IF_ERROR(CheckDeviceF32("matmul", "bias", *bias, 1, N));
  PHX_RETURN_IF_ERROR(CheckInt32("matmul", "M", x.rows()));
  *n = static_cast<int32_t>(N);
  *k = static_cast<int32_t>(K);
  return absl::OkStatus();
}

absl::Status CudaBackend::MatmulHalf(DType act, const Tensor& w, const Tensor* bias,
                                     const Tensor& y, int32_t m) {
  const int32_t n = static_cast<int32_t>(w.shape[0]), k = static_cast<int32_t>(w.shape[1]);
  const kernels::GemmPath path = kernels::ChooseGemmPath(w.dtype, m, wgmma_, opt_.prefer_cublas);
  if (path == kernels::GemmPath::kGemv) {
    PHX_RETURN_IF_ERROR(WeightGemv(act16_.data(), act, w, y, m));
  } else if (IsCudaQuantType(w.dtype)) {
    const size_t bytes = static_cast<size_t>(n) * k * 2;
    if (static_cast<int64_t>(bytes) > opt_.dequant_workspace_bytes) {
      PHX_RETURN_IF_ERROR(WeightGemv(act16_.data(), act, w, y, m));  // passes of 8 rows
    } else {
      PHX_RETURN_IF_ERROR(Reserve(dequant_, bytes, "dequantized weights"));
      kernels::DequantizeParams d;
      d.w = w.data;
      d.w_dtype = w.dtype;
      d.out = dequant_.data();
      d.out_dtype = act;
      d.rows = n;
      d.cols = k;
      PHX_RETURN_IF_ERROR(Run(kernels::LaunchDequantize, d, "matmul: dequantize"));
      PHX_RETURN_IF_ERROR(DenseGemm(act16_.data(), act, dequant_.data(), k, y, m, n, k));
    }
  } else {
    PHX_RETURN_IF_ERROR(DenseGemm(act16_.data(), act, w.data, k, y, m, n, k));
  }
  return bias == nullptr ? absl::OkStatus() : AddBias(y, *bias, m);
}

absl::Status CudaBackend::AddBias(const Tensor& y, const Tensor& bias, int32_t m) {
  kernels::AddParams a;
  a.a = static_cast<const float*>(y.data);
  a.a_stride = ElemStride(y);
  a.b = static_cast<const float*>(bias.data);
  a.b_stride = 0;  // the bias row broadcast to every row
  a.out = static_cast<float*>(y.data);
  a.out_stride = ElemStride(y);
  a.rows = m;
  a.cols = static_cast<int32_t>(y.cols());
  return Run(kernels::LaunchAdd, a, "matmul: bias");
}

absl::Status CudaBackend::GroupedGemv(const Tensor& x, std::span<const MatmulOut> outs) {
  kernels::WeightGemvParams p;
  p.x = x.data;
  p.ldx = ElemStride(x);
  p.act_dtype = DType::kF32;
  p.w_dtype = outs[0].w->dtype;
  p.y_dtype = DType::kF32;
  p.m = static_cast<int32_t>(x.rows());
  p.k = static_cast<int32_t>(x.cols());
  p.w = outs[0].w->data;
  p.y = outs[0].y->data;
  p.ldy = ElemStride(*outs[0].y);
  p.n = static_cast<int32_t>(outs[0].w->shape[0]);
  p.bias = outs[0].bias != nullptr ? static_cast<const float*>(outs[0].bias->data) : nullptr;
  p.num_extra = static_cast<int32_t>(outs.size()) - 1;
  for (size_t i = 1; i < outs.size(); ++i) {
    kernels::GemvOutput& e = p.extra[i - 1];
    e.w = outs[i].w->data;
    e.y = outs[i].y->data;
    e.ldy = ElemStride(*outs[i].y);
    e.n = static_cast<int32_t>(outs[i].w->shape[0]);
    e.bias = outs[i].bias != nullptr ? static_cast<const float*>(outs[i].bias->data) : nullptr;
  }
  return Run(kernels::LaunchWeightGemv, p,
             StrCat("matmul (", DTypeName(p.w_dtype), " gemv, ", outs.size(), " outputs)"));
}

absl::Status CudaBackend::Matmul(const Tensor& x, const Tensor& w, const Tensor* bias,
                                 const Tensor& y) {
  const MatmulOut one[] = {{&w, bias, &y}};
  return MatmulMany(x, one);
}

absl::Status CudaBackend::MatmulMany(const Tensor& x, std::span<const MatmulOut> outs) {
  PHX_RETURN_IF_ERROR(Healthy());
  if (outs.empty()) return absl::OkStatus();
  if (!opt_.fuse_ops && outs.size() > 1) {  // one by one
    for (const MatmulOut& o : outs) PHX_RETURN_IF_ERROR(MatmulMany(x, {&o, 1}));
    return absl::OkStatus();
  }
  int32_t k = 0;
  for (const MatmulOut& o : outs) {
    int32_t n_i = 0, k_i = 0;
    PHX_RETURN_IF_ERROR(CheckMatmul(x, *o.w, o.bias, *o.y, &n_i, &k_i));
    if (&o != &outs[0] && k_i != k) {
      return absl::InvalidArgumentError("matmul_many: the weights' K differ");
    }
    if (!(o.softcap >= 0.f) || !std::isfinite(o.softcap)) {
      return absl::InvalidArgumentError(
          StrCat("matmul_many: softcap ", o.softcap, " must be 0 (off) or positive and finite"));
    }
    k = k_i;
  }
  const int32_t m = static_cast<int32_t>(x.rows());
  if (m == 0) return absl::OkStatus();
  PHX_RETURN_IF_ERROR(MatmulProducts(x, outs, k));
  for (const MatmulOut& o : outs) {  // Op::kLogitSoftcap: one pass over the finished product
    if (o.softcap > 0.f) PHX_RETURN_IF_ERROR(Softcap(*o.y, o.softcap));
  }
  return absl::OkStatus();
}

absl::Status CudaBackend::MatmulProducts(const Tensor& x, std::span<const MatmulOut> outs,
                                         int32_t k) {
  const int32_t m = static_cast<int32_t>(x.rows());
  bool same_type = true;
  for (const MatmulOut& o : outs) same_type = same_type && o.w->dtype == outs[0].w->dtype;
  // Decode-sized: the products of f32 x in one GEMV launch (f32 activations read directly).
  const bool gemv = kernels::ChooseGemmPath(outs[0].w->dtype, m, wgmma_, opt_.prefer_cublas) ==
                    kernels::GemmPath::kGemv;
  const bool aligned = ElemStride(x) % 8 == 0 && reinterpret_cast<uintptr_t>(x.data) % 16 == 0;
  if (opt_.fuse_ops && gemv && same_type && k > 0 && aligned) {
    for (size_t i = 0; i < outs.size(); i += 1 + kernels::kMaxGemvExtra) {
      const size_t n = std::min<size_t>(outs.size() - i, 1 + kernels::kMaxGemvExtra);
      PHX_RETURN_IF_ERROR(GroupedGemv(x, outs.subspan(i, n)));
    }
    return absl::OkStatus();
  }
  // Otherwise x is converted once per 16-bit type (bf16 for bf16 weights, f16 for the rest).
  for (DType act : {DType::kF16, DType::kBF16}) {
    bool converted = false;
    for (const MatmulOut& o : outs) {
      if ((o.w->dtype == DType::kBF16 ? DType::kBF16 : DType::kF16) != act) continue;
      if (o.w->shape[0] == 0) continue;
      if (k == 0) {  // an empty sum: y = bias
        PHX_RETURN_IF_ERROR(Fill(*o.y, 0.f));
        if (o.bias != nullptr) PHX_RETURN_IF_ERROR(AddBias(*o.y, *o.bias, m));
        continue;
      }
      if (!converted) {
        PHX_RETURN_IF_ERROR(ToHalf(x, act, act16_, "matmul"));
        converted = true;
      }
      PHX_RETURN_IF_ERROR(MatmulHalf(act, *o.w, o.bias, *o.y, m));
    }
  }
  return absl::OkStatus();
}

}  // namespace phx::ops::cuda

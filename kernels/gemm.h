// Matrix products y[M, N] = x[M, K] . w[N, K]^T (GGUF's weight layout: N output rows of K
// inputs), f32 accumulation. Host launchers:
//   LaunchCublasGemm  cuBLAS (cublasGemmEx) for f16/bf16 x and w: the reference and fallback.
//   LaunchMmaGemm     our tiled mma.sync tensor-core GEMM (sm_80+), 128x128x32 tiles.
//   LaunchWgmmaGemm   our wgmma GEMM (sm_90a only; cudaErrorNotSupported on other devices).
//   LaunchWeightGemv  weight-streaming GEMV for decode (small M): f16/bf16 weights (W16A16),
//                     Q8_0 (W8A16), Q4_K (W4A16), Q5_K (W5A16) and Q6_K (W6A16), one warp per
//                     output column n, up to 8 activation rows per pass (M > 8 runs
//                     ceil(M / 8) passes);
//                     activations f16/bf16, or f32 read directly (no conversion launch); up to
//                     three products of the same x (q/k/v, gate/up) in one launch; optional
//                     f32 bias.
//   LaunchDequantize  Q8_0/Q4_K/Q5_K/Q6_K -> f16/bf16 rows, for the large-M path (dequantize,
//                     GEMM).
//   LaunchDequantizeBlocks  GGUF blocks of the types without a GEMV (q4_0, q4_1, q5_0, q5_1,
//                     q2_K, q3_K, iq4_nl, iq4_xs, mxfp4) -> f16/bf16, once at load.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/dtype.h"

namespace phx::kernels {

struct GemmParams {
  const void* x = nullptr;  // [m, k] dtype, rows ldx elements apart
  int64_t ldx = 0;
  const void* w = nullptr;  // [n, k] dtype, rows ldw elements apart
  int64_t ldw = 0;
  void* y = nullptr;  // [m, n] y_dtype, rows ldy elements apart
  int64_t ldy = 0;
  DType dtype = DType::kF16;    // x and w: f16 or bf16
  DType y_dtype = DType::kF16;  // dtype or f32
  int32_t m = 0, n = 0, k = 0;
};

// Argument checks shared by the dense launchers (no device access). `op` names the caller in
// the message. Needs k % 8 == 0, ldx/ldw multiples of 8 and 16-byte-aligned x and w (the
// kernels load 16-byte vectors; cuBLAS is held to the same rules).
cudaError_t ValidateGemm(const GemmParams& p, const char* op);

cudaError_t LaunchCublasGemm(const GemmParams& p, cublasHandle_t handle, cudaStream_t stream);
cudaError_t LaunchMmaGemm(const GemmParams& p, cudaStream_t stream);
cudaError_t LaunchWgmmaGemm(const GemmParams& p, cudaStream_t stream);
// Whether LaunchWgmmaGemm can run on `device` (compute capability 9.x).
bool WgmmaGemmSupported(int device);

// A further product of the same activations in one GEMV launch.
struct GemvOutput {
  const void* w = nullptr;  // [n, k], same type and layout as WeightGemvParams::w
  void* y = nullptr;        // [m, n] y_dtype, rows ldy elements apart
  int64_t ldy = 0;
  const float* bias = nullptr;  // optional [n] (f32 output only)
  int32_t n = 0;
};
inline constexpr int kMaxGemvExtra = 2;

struct WeightGemvParams {
  const void* x = nullptr;  // [m, k] act_dtype, rows ldx elements apart
  int64_t ldx = 0;
  DType act_dtype = DType::kF16;  // f16 or bf16; f32 (then y_dtype is f32)
  const void* w = nullptr;        // [n, k] in the device layout of w_dtype (kernels/quant_layout.h)
  DType w_dtype = DType::kQ8_0;   // f16/bf16 (== act_dtype, or any with f32 activations),
                                  // q8_0 (planar), q4_K, q5_K, q6_K (planar)
  void* y = nullptr;              // [m, n] y_dtype, rows ldy elements apart
  int64_t ldy = 0;
  DType y_dtype = DType::kF16;  // act_dtype or f32
  const float* bias = nullptr;  // optional [n] added to every row (f32 output only)
  int32_t m = 0, n = 0, k = 0;
  // Products extra[0 .. num_extra) of the same x: columns n, n + extra[0].n, ... of the grid.
  int32_t num_extra = 0;
  GemvOutput extra[kMaxGemvExtra];
};
inline constexpr int kGemvRowsPerPass = 8;

cudaError_t ValidateWeightGemv(const WeightGemvParams& p);
cudaError_t LaunchWeightGemv(const WeightGemvParams& p, cudaStream_t stream);

struct DequantizeParams {
  const void* w = nullptr;        // [rows, cols] in the device layout of w_dtype
  DType w_dtype = DType::kQ8_0;   // q8_0 (planar), q4_K, q5_K or q6_K (planar)
  void* out = nullptr;            // [rows, cols] packed, out_dtype
  DType out_dtype = DType::kF16;  // f16 or bf16
  int64_t rows = 0, cols = 0;
};
cudaError_t ValidateDequantize(const DequantizeParams& p);
cudaError_t LaunchDequantize(const DequantizeParams& p, cudaStream_t stream);

// GGUF blocks as the file holds them (any alignment; read bytewise) -> n packed 16-bit values,
// each the f32 value the CPU reference dequantizer (base/dtype.h DequantizeRow) computes, with
// the same operations in the same order, rounded once to out_dtype (round to nearest even).
// One thread per 32 elements. Used once per weight at load (the types without a GEMV kernel).
struct DequantizeBlocksParams {
  const void* src = nullptr;       // n / block_elems consecutive GGUF blocks of src_dtype
  DType src_dtype = DType::kQ4_0;  // q4_0 q4_1 q5_0 q5_1 q2_K q3_K iq4_nl iq4_xs mxfp4
  void* out = nullptr;             // [n] out_dtype, 16-byte aligned
  DType out_dtype = DType::kF16;   // f16 or bf16
  int64_t n = 0;                   // a multiple of the block (32, or 256 for the K types)
};
// Whether LaunchDequantizeBlocks takes `t` (pure).
bool DequantizeBlocksSupports(DType t);
cudaError_t ValidateDequantizeBlocks(const DequantizeBlocksParams& p);
cudaError_t LaunchDequantizeBlocks(const DequantizeBlocksParams& p, cudaStream_t stream);

// Which path a weight matmul takes (pure function; the CUDA ops layer follows it).
enum class GemmPath { kGemv, kDequantThenGemm, kCublas, kMma, kWgmma };
// Dense f16/bf16 weights: GEMV for m <= max_gemv_rows, else the tensor-core GEMM (wgmma when
// available, else mma.sync; cuBLAS when prefer_cublas). Quantized weights (q8_0, q4_K, q5_K,
// q6_K):
// GEMV for m <= max_gemv_rows, else dequantize into a workspace and GEMM.
GemmPath ChooseGemmPath(DType w_dtype, int32_t m, bool wgmma_available, bool prefer_cublas,
                        int32_t max_gemv_rows = 8);
const char* GemmPathName(GemmPath path);

// ---- Implementation entry points (explicit instantiations in their own .cu files) ----------
template <DType kT, DType kY>
cudaError_t RunMmaGemm(const GemmParams& p, cudaStream_t stream);
template <DType kT, DType kY>
cudaError_t RunWgmmaGemm(const GemmParams& p, cudaStream_t stream);
template <DType kW, DType kA, DType kY>
cudaError_t RunWeightGemv(const WeightGemvParams& p, cudaStream_t stream);
template <DType kW, DType kOut>
cudaError_t RunDequantize(const DequantizeParams& p, cudaStream_t stream);

}  // namespace phx::kernels

#pragma once
// CBNN_HD marks small inline functions shared by CPU references and CUDA kernels (index math,
// scalar formulas), so both backends evaluate the very same expression.
#ifdef __CUDACC__
#define CBNN_HD __host__ __device__ __forceinline__
#else
#define CBNN_HD inline
#endif

#pragma once
// Owning wrappers of the cuDNN descriptors cbnn's cuDNN calls build (CUDA builds only): a 4-D
// tensor, a convolution filter, a 2-D convolution. Each is created and set in its constructor
// (a failure throws naming the call and leaves nothing behind) and destroyed with the object;
// get() gives the raw descriptor for the calls. Sizes are int64_t like cbnn's shapes and must
// fit cuDNN's int (checked, naming `what` = the caller, e.g. "conv2d (cuDNN)").
#include <cudnn.h>

#include <cstdint>

namespace cbnn::cuda {

class CudnnTensorDescriptor {
  public:
    // `format`: CUDNN_TENSOR_NCHW or CUDNN_TENSOR_NHWC (fully packed in that order); n, c, h, w
    // are the logical sizes either way.
    CudnnTensorDescriptor(const char* what, cudnnTensorFormat_t format, cudnnDataType_t type,
                          int64_t n, int64_t c, int64_t h, int64_t w);
    ~CudnnTensorDescriptor();
    CudnnTensorDescriptor(const CudnnTensorDescriptor&) = delete;
    CudnnTensorDescriptor& operator=(const CudnnTensorDescriptor&) = delete;
    cudnnTensorDescriptor_t get() const { return desc_; }

  private:
    cudnnTensorDescriptor_t desc_ = nullptr;
};

class CudnnFilterDescriptor {
  public:
    // K output channels, C input channels, R x S; `format` CUDNN_TENSOR_NCHW for KCRS filters,
    // CUDNN_TENSOR_NHWC for KRSC.
    CudnnFilterDescriptor(const char* what, cudnnTensorFormat_t format, cudnnDataType_t type,
                          int64_t k, int64_t c, int64_t r, int64_t s);
    ~CudnnFilterDescriptor();
    CudnnFilterDescriptor(const CudnnFilterDescriptor&) = delete;
    CudnnFilterDescriptor& operator=(const CudnnFilterDescriptor&) = delete;
    cudnnFilterDescriptor_t get() const { return desc_; }

  private:
    cudnnFilterDescriptor_t desc_ = nullptr;
};

class CudnnConvolutionDescriptor {
  public:
    // Cross-correlation (what DL frameworks call convolution), square padding and stride,
    // dilation 1, FP32 accumulation, under `math`.
    CudnnConvolutionDescriptor(const char* what, int64_t pad, int64_t stride, cudnnMathType_t math);
    ~CudnnConvolutionDescriptor();
    CudnnConvolutionDescriptor(const CudnnConvolutionDescriptor&) = delete;
    CudnnConvolutionDescriptor& operator=(const CudnnConvolutionDescriptor&) = delete;
    cudnnConvolutionDescriptor_t get() const { return desc_; }

  private:
    cudnnConvolutionDescriptor_t desc_ = nullptr;
};

}  // namespace cbnn::cuda

#include "tensor/copy.h"

#include <cstring>

#include "tensor/dispatch.h"

namespace cbnn {

namespace cpu {

namespace {
template <class Src, class Dst>
void strided_copy_typed(const Src* src, const StridedLayout& src_layout, Dst* dst,
                        const StridedLayout& dst_layout, int64_t n) {
    // Row by row along the last dimension when both layouts enumerate the same sizes (ops::
    // copy_into builds both over dst's shape): offset()'s division per dimension then runs once
    // per row instead of once per element. Same elements, same conversions, same order.
    const int last = dst_layout.ndim - 1;
    const int64_t row = last >= 0 ? dst_layout.sizes[last] : 1;
    const bool by_rows = last >= 0 && src_layout.ndim == dst_layout.ndim &&
                         src_layout.sizes[last] == row && row > 1 && n % row == 0;
    if (!by_rows) {
        for (int64_t i = 0; i < n; ++i)
            dst[dst_layout.offset(i)] = convert<Dst>(src[src_layout.offset(i)]);
        return;
    }
    const int64_t src_step = src_layout.strides[last], dst_step = dst_layout.strides[last];
    for (int64_t start = 0; start < n; start += row) {
        const Src* s = src + src_layout.offset(start);
        Dst* d = dst + dst_layout.offset(start);
        for (int64_t j = 0; j < row; ++j) d[j * dst_step] = convert<Dst>(s[j * src_step]);
    }
}
}  // namespace

void strided_copy(DType src_dtype, const void* src, const StridedLayout& src_layout,
                  DType dst_dtype, void* dst, const StridedLayout& dst_layout, int64_t n) {
    dispatch_all_bf16(src_dtype, "copy", [&]<class Src>() {
        dispatch_all_bf16(dst_dtype, "copy", [&]<class Dst>() {
            strided_copy_typed(static_cast<const Src*>(src), src_layout, static_cast<Dst*>(dst),
                               dst_layout, n);
        });
    });
}

void fill(DType dtype, void* dst, int64_t n, double value) {
    dispatch_all_bf16(dtype, "fill", [&]<class T>() {
        T* out = static_cast<T*>(dst);
        const T v = convert<T>(value);
        for (int64_t i = 0; i < n; ++i) out[i] = v;
    });
}

}  // namespace cpu

namespace ops {

Tensor cast(const Tensor& src, DType dtype, MemoryFormat format) {
    check_defined(src, "cast");
    Tensor out = Tensor::empty(src.shape(), dtype, src.device(), format);
    copy_into(out, src);
    return out;
}

Tensor contiguous_copy(const Tensor& src) { return cast(src, src.dtype()); }

Tensor contiguous_copy(const Tensor& src, MemoryFormat format) {
    return cast(src, src.dtype(), format);
}

Tensor dense(const Tensor& src) { return src.is_contiguous() ? src : contiguous_copy(src); }

Tensor dense(const Tensor& src, MemoryFormat format) {
    return src.is_contiguous(format) ? src : contiguous_copy(src, format);
}

Tensor to_device(const Tensor& src, Device device) {
    check_defined(src, "to");
    if (src.device() == device) return src;
    const Tensor from = dense(src);
    Tensor out = Tensor::empty(src.shape(), src.dtype(), device);
    CBNN_ON_CUDA(
        cuda::copy_bytes(out.raw_data(), device, from.raw_data(), from.device(), from.nbytes()));
    return out;
}

void copy_into(const Tensor& dst, const Tensor& src) {
    check_defined(dst, "copy_");
    check_defined(src, "copy_");
    if (src.device() != dst.device()) {
        // Cross-device: bring the source over as a dense tensor of its own dtype first.
        copy_into(dst, to_device(src, dst.device()));
        return;
    }
    const Shape out = broadcast_shapes(src.shape(), dst.shape(), "copy_");
    CBNN_CHECK(out == dst.shape(), "copy_: source of shape ", src.shape(),
               " cannot be broadcast to destination shape ", dst.shape());
    const int64_t n = dst.numel();
    if (n == 0) return;
    const bool same_dense_layout =
        src.shape() == dst.shape() && ((src.is_contiguous() && dst.is_contiguous()) ||
                                       (src.is_contiguous(MemoryFormat::channels_last) &&
                                        dst.is_contiguous(MemoryFormat::channels_last)));
    if (src.dtype() == dst.dtype() && same_dense_layout) {
        if (dst.raw_data() == src.raw_data()) return;
        if (dst.is_cuda()) {
            CBNN_ON_CUDA(cuda::copy_bytes(dst.raw_data(), dst.device(), src.raw_data(),
                                          src.device(), dst.nbytes()));
        } else {
            std::memcpy(dst.raw_data(), src.raw_data(), dst.nbytes());
        }
    } else {
        const StridedLayout from = make_broadcast_layout(src.shape(), src.strides(), dst.shape());
        const StridedLayout to = make_layout(dst.shape(), dst.strides());
        if (dst.is_cuda()) {
            CBNN_ON_CUDA(cuda::strided_copy(src.dtype(), src.raw_data(), from, dst.dtype(),
                                            dst.raw_data(), to, n));
        } else {
            cpu::strided_copy(src.dtype(), src.raw_data(), from, dst.dtype(), dst.raw_data(), to,
                              n);
        }
    }
    dst.bump_version();
}

}  // namespace ops
}  // namespace cbnn

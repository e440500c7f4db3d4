#pragma once
// One element of each CUDA pooling kernel (layers/pooling_cuda.cu): the kernels are grid-stride
// loops around these CBNN_HD functions, so the CPU tests run the very same index math, window
// walks and float arithmetic on the ResNet shapes in both layouts without a GPU
// (tests/layers/test_pooling_elements.cpp). Math and layout in layers/pooling.h.
//
// Forward: element o of y, o in y's storage order (NCHW or NHWC by g.channels_last).
// Backward: element t of dx in dx's storage order; it gathers from the windows that contain it in
// increasing (oh, ow) order, the order in which the CPU reference scatters into it, so the sums
// round identically.
// A: float or bfloat16, loaded and widened to float, each output rounded once to A.

#include <cstdint>

#include "layers/pooling.h"
#include "tensor/bfloat16.h"
#include "tensor/hd.h"
#include "tensor/reduce_math.h"

namespace cbnn {

// Storage index of input element (h, w) of `at`'s image and channel, and of output (oh, ow).
CBNN_HD int64_t pool2d_input_index(const Pool2dGeometry& g, const PlaneIndex& at, int64_t h,
                                   int64_t w) {
    return pool2d_storage_index({at.n, at.c, h, w}, g.C, g.H, g.W, g.channels_last);
}
CBNN_HD int64_t pool2d_output_index(const Pool2dGeometry& g, const PlaneIndex& at, int64_t oh,
                                    int64_t ow) {
    return pool2d_storage_index({at.n, at.c, oh, ow}, g.C, g.OH, g.OW, g.channels_last);
}

// An element located by its storage index, with a range of rows [r0, r1) and columns [c0, c1):
// for an output element, the input positions its window covers; for an input element, the
// outputs whose windows contain it.
struct Pool2dSpan {
    PlaneIndex at;
    int64_t r0, r1, c0, c1;
};
CBNN_HD Pool2dSpan pool2d_output_span(const Pool2dGeometry& g, int64_t o) {
    Pool2dSpan s;
    s.at = pool2d_plane_index(o, g.C, g.OH, g.OW, g.channels_last);
    pool2d_window(s.at.h, g.kernel, g.stride, g.padding, g.H, s.r0, s.r1);
    pool2d_window(s.at.w, g.kernel, g.stride, g.padding, g.W, s.c0, s.c1);
    return s;
}
CBNN_HD Pool2dSpan pool2d_input_span(const Pool2dGeometry& g, int64_t t) {
    Pool2dSpan s;
    s.at = pool2d_plane_index(t, g.C, g.H, g.W, g.channels_last);
    pool2d_windows_containing(s.at.h, g.kernel, g.stride, g.padding, g.OH, s.r0, s.r1);
    pool2d_windows_containing(s.at.w, g.kernel, g.stride, g.padding, g.OW, s.c0, s.c1);
    return s;
}

template <class A>
CBNN_HD void max_pool2d_forward_element(const A* x, A* y, int64_t* argmax, const Pool2dGeometry& g,
                                        int64_t o) {
    const Pool2dSpan s = pool2d_output_span(g, o);
    float best = convert<float>(x[pool2d_input_index(g, s.at, s.r0, s.c0)]);
    int64_t best_i = s.r0 * g.W + s.c0;
    for (int64_t h = s.r0; h < s.r1; ++h) {
        for (int64_t w = s.c0; w < s.c1; ++w) {
            const int64_t i = h * g.W + w;
            const float v = convert<float>(x[pool2d_input_index(g, s.at, h, w)]);
            if (max_prefers(v, i, best, best_i)) {
                best = v;
                best_i = i;
            }
        }
    }
    y[o] = convert<A>(best);
    argmax[o] = best_i;
}

template <class A>
CBNN_HD void max_pool2d_backward_element(const A* dy, const int64_t* argmax, A* dx,
                                         const Pool2dGeometry& g, int64_t t) {
    const Pool2dSpan s = pool2d_input_span(g, t);
    const int64_t self = s.at.h * g.W + s.at.w;
    float acc = 0.f;
    for (int64_t oh = s.r0; oh < s.r1; ++oh) {
        for (int64_t ow = s.c0; ow < s.c1; ++ow) {
            const int64_t o = pool2d_output_index(g, s.at, oh, ow);
            if (argmax[o] == self) acc += convert<float>(dy[o]);
        }
    }
    dx[t] = convert<A>(acc);
}

template <class A>
CBNN_HD void avg_pool2d_forward_element(const A* x, A* y, const Pool2dGeometry& g,
                                        bool count_include_pad, int64_t o) {
    const Pool2dSpan s = pool2d_output_span(g, o);
    float acc = 0.f;
    for (int64_t h = s.r0; h < s.r1; ++h)
        for (int64_t w = s.c0; w < s.c1; ++w)
            acc += convert<float>(x[pool2d_input_index(g, s.at, h, w)]);
    y[o] = convert<A>(acc /
                      static_cast<float>(avg_pool2d_divisor(g, s.at.h, s.at.w, count_include_pad)));
}

template <class A>
CBNN_HD void avg_pool2d_backward_element(const A* dy, A* dx, const Pool2dGeometry& g,
                                         bool count_include_pad, int64_t t) {
    const Pool2dSpan s = pool2d_input_span(g, t);
    float acc = 0.f;
    for (int64_t oh = s.r0; oh < s.r1; ++oh) {
        for (int64_t ow = s.c0; ow < s.c1; ++ow) {
            acc += convert<float>(dy[pool2d_output_index(g, s.at, oh, ow)]) /
                   static_cast<float>(avg_pool2d_divisor(g, oh, ow, count_include_pad));
        }
    }
    dx[t] = convert<A>(acc);
}

}  // namespace cbnn

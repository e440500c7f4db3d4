// Linear on CUDA (cuBLAS with transposed weight views) against the CPU float64 reference:
// forward and backward (dx, dweight, dbias) in FP32 math, on the real head shapes and odd ones.
#include <memory>
#include <string>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "layers/linear.h"
#include "tensor/backend.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;
using testing::random_tensor;

struct Case {
    int64_t n, in, out;
    bool bias;
};

TEST(LinearCuda, ForwardAndBackwardMatchCpuFloat64) {
    CBNN_REQUIRE_GPU();
    const Tf32Setting fp32(false);
    uint64_t seed = 100;
    for (const Case& c : {Case{128, 64, 10, true}, Case{128, 64, 100, true}, Case{1, 1, 1, true},
                          Case{37, 53, 29, false}, Case{16, 2048, 1000, true}}) {
        Generator gen(seed);
        Linear fc(c.in, c.out, c.bias, gen);
        fc.to(Device::cuda());
        const Tensor x64 = random_tensor({c.n, c.in}, -1, 1, seed++);
        // f32-representable, so both sides see the same upstream gradient.
        const Tensor dy64 = random_tensor({c.n, c.out}, -1, 1, seed++, DType::f32).to(DType::f64);
        Tensor x = x64.to(DType::f32).cuda();
        x.set_requires_grad();
        const Tensor y = fc(x);
        ASSERT_TRUE(y.is_cuda());
        y.backward(dy64.to(DType::f32).cuda());

        // Reference: the same f32 parameter values, in f64 on the CPU.
        Tensor w64 = fc.weight().detach().cpu().to(DType::f64).detach();
        w64.set_requires_grad();
        Tensor b64;
        if (c.bias) {
            b64 = fc.bias().detach().cpu().to(DType::f64).detach();
            b64.set_requires_grad();
        }
        Tensor xr = x.detach().cpu().to(DType::f64).detach();
        xr.set_requires_grad();
        const Tensor yr = linear(xr, w64, b64);
        yr.backward(dy64);

        const std::string where = "N " + std::to_string(c.n) + " in " + std::to_string(c.in) +
                                  " out " + std::to_string(c.out);
        EXPECT_TRUE(all_close(y, yr, testing::f32_sum_tolerance(c.in))) << where;
        EXPECT_TRUE(all_close(x.grad(), xr.grad(), testing::f32_sum_tolerance(c.out))) << where;
        EXPECT_TRUE(all_close(fc.weight().grad(), w64.grad(), testing::f32_sum_tolerance(c.n)))
            << where;
        if (c.bias) {
            EXPECT_TRUE(all_close(fc.bias().grad(), b64.grad(), testing::f32_sum_tolerance(c.n)))
                << where;
        }
    }
}

TEST(LinearCuda, MixedDevicesAreClearErrors) {
    CBNN_REQUIRE_GPU();
    Generator gen(1);
    Linear fc(4, 2, true, gen);
    fc.to(Device::cuda());
    try {
        fc(Tensor::zeros({3, 4}));
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("different devices"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace cbnn

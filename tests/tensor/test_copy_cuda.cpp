// CUDA twin of tests/tensor/test_copy.cpp: host<->device round trips of every dtype, strided
// copies, casts and fill on the device, cross-device copy_, and to() as a differentiable op.
#include <cmath>
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "tensor/copy.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

const DType kAllDtypes[] = {DType::f32, DType::f64, DType::i64, DType::u8};

std::vector<double> as_doubles(const Tensor& t) {
    return ops::cast(t.cpu(), DType::f64).to_vector<double>();
}

TEST(CopyCuda, HostDeviceRoundTripOfEveryDtype) {
    CBNN_REQUIRE_GPU();
    const Tensor f = testing::random_tensor({17, 33}, -100, 100, 1, DType::f32);
    const Tensor d = testing::random_tensor({17, 33}, -100, 100, 2);
    std::vector<int64_t> iv(17 * 33);
    for (size_t i = 0; i < iv.size(); ++i) iv[i] = (static_cast<int64_t>(i) - 200) << 35;
    std::vector<uint8_t> uv(17 * 33);
    for (size_t i = 0; i < uv.size(); ++i) uv[i] = static_cast<uint8_t>(i * 31);
    const Tensor i64 = Tensor::from_vector<int64_t>(iv, {17, 33});
    const Tensor u8 = Tensor::from_vector<uint8_t>(uv, {17, 33});

    const Tensor fd = f.cuda();
    EXPECT_TRUE(fd.is_cuda());
    EXPECT_EQ(fd.description(), "f32[17, 33] cuda:0");
    EXPECT_EQ(fd.cpu().to_vector<float>(), f.to_vector<float>());
    EXPECT_EQ(d.cuda().cpu().to_vector<double>(), d.to_vector<double>());
    EXPECT_EQ(i64.cuda().cpu().to_vector<int64_t>(), iv);
    EXPECT_EQ(u8.cuda().cpu().to_vector<uint8_t>(), uv);
    EXPECT_EQ(u8.cuda().to_vector<uint8_t>(), uv);  // to_vector reads device tensors directly
    // from_vector straight onto the device, and a transposed device tensor back to the host.
    EXPECT_EQ(Tensor::from_vector<int64_t>(iv, {17, 33}, Device::cuda()).t().to_vector<int64_t>(),
              i64.t().to_vector<int64_t>());
    EXPECT_EQ(f.t().cuda().to_vector<float>(), f.t().to_vector<float>());
}

TEST(CopyCuda, StridedCopiesOnTheDevice) {
    CBNN_REQUIRE_GPU();
    const Tensor x = testing::random_tensor({30, 40}, -1, 1, 3, DType::f32);
    const Tensor xd = x.cuda();
    EXPECT_EQ(xd.t().contiguous().cpu().to_vector<float>(), x.t().contiguous().to_vector<float>());
    Tensor big = Tensor::zeros({30, 50}, DType::f32, Device::cuda());
    big.narrow(1, 5, 40).copy_(xd);
    Tensor ref = Tensor::zeros({30, 50});
    ref.narrow(1, 5, 40).copy_(x);
    EXPECT_EQ(big.to_vector<float>(), ref.to_vector<float>());
    // Broadcast source into a transposed window.
    Tensor m = Tensor::zeros({8, 6}, DType::f32, Device::cuda());
    m.t().narrow(1, 2, 3).copy_(Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {6, 1}).cuda());
    Tensor mr = Tensor::zeros({8, 6});
    mr.t().narrow(1, 2, 3).copy_(Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {6, 1}));
    EXPECT_EQ(m.to_vector<float>(), mr.to_vector<float>());
}

TEST(CopyCuda, CrossDeviceCopyIntoViews) {
    CBNN_REQUIRE_GPU();
    const Tensor src = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
    Tensor dev = Tensor::zeros({3, 4}, DType::f64, Device::cuda());
    dev.narrow(1, 1, 2).copy_(src.t());  // host f32 -> device f64 view
    EXPECT_EQ(dev.to_vector<double>(), (std::vector<double>{0, 1, 4, 0, 0, 2, 5, 0, 0, 3, 6, 0}));
    Tensor host = Tensor::zeros({3, 2}, DType::i64);
    host.copy_(dev.narrow(1, 1, 2));  // device f64 view -> host i64
    EXPECT_EQ(host.to_vector<int64_t>(), (std::vector<int64_t>{1, 4, 2, 5, 3, 6}));
}

TEST(CopyCuda, CastsBetweenEveryDtypePairOnTheDevice) {
    CBNN_REQUIRE_GPU();
    const Tensor base = Tensor::from_vector<double>({0, 3, 17, 255, 128, 1}, {2, 3});
    for (DType from : kAllDtypes) {
        for (DType to : kAllDtypes) {
            SCOPED_TRACE(::testing::Message() << from << " -> " << to);
            const Tensor src = ops::cast(base, from).cuda();
            const Tensor dst = ops::cast(src, to);
            EXPECT_TRUE(dst.is_cuda());
            EXPECT_EQ(dst.dtype(), to);
            EXPECT_EQ(as_doubles(dst), base.to_vector<double>());
            EXPECT_EQ(as_doubles(ops::cast(src.t(), to)), as_doubles(base.t()));
        }
    }
    EXPECT_EQ(
        Tensor::from_vector<float>({2.9f, -1.7f}, {2}).cuda().to(DType::i64).to_vector<int64_t>(),
        (std::vector<int64_t>{2, -1}));
}

TEST(CopyCuda, FillEveryDtypeOnTheDevice) {
    CBNN_REQUIRE_GPU();
    EXPECT_EQ(Tensor::full({1000}, 1.5, DType::f32, Device::cuda()).to_vector<float>(),
              std::vector<float>(1000, 1.5f));
    EXPECT_EQ(Tensor::full({3}, -0.1, DType::f64, Device::cuda()).to_vector<double>(),
              std::vector<double>(3, -0.1));
    EXPECT_EQ(Tensor::full({3}, -7, DType::i64, Device::cuda()).to_vector<int64_t>(),
              std::vector<int64_t>(3, -7));
    EXPECT_EQ(Tensor::full({3}, 255, DType::u8, Device::cuda()).to_vector<uint8_t>(),
              std::vector<uint8_t>(3, 255));
    Tensor t = Tensor::zeros({4, 3}, DType::f32, Device::cuda());
    const uint64_t v = t.version();
    t.narrow(0, 1, 2).fill_(2.0);
    EXPECT_EQ(t.version(), v + 1);
    EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0, 0, 0, 2, 2, 2, 2, 2, 2, 0, 0, 0}));
    EXPECT_EQ(Tensor::zeros({0}, DType::f32, Device::cuda()).fill_(1.0).numel(), 0);
}

TEST(CopyCuda, ToDeviceIsDifferentiable) {
    CBNN_REQUIRE_GPU();
    Tensor x = Tensor::from_vector<float>({0.5f, -1.f, 2.f}, {3});
    x.set_requires_grad();
    const Tensor y = exp(x.cuda()) * Tensor::from_vector<float>({1, 2, 3}, {3}, Device::cuda());
    EXPECT_TRUE(y.requires_grad());
    sum(y).cpu().backward();
    ASSERT_TRUE(x.grad().defined());
    EXPECT_FALSE(x.grad().is_cuda());
    EXPECT_TRUE(testing::all_close(
        x.grad(),
        Tensor::from_vector<double>({std::exp(0.5), 2 * std::exp(-1.0), 3 * std::exp(2.0)}, {3}),
        testing::kCudaVsCpu));
    // And the other way: a device leaf used on the host.
    Tensor d = Tensor::from_vector<float>({1.f, 2.f}, {2}, Device::cuda());
    d.set_requires_grad();
    sum(square(d.cpu())).backward();
    EXPECT_TRUE(d.grad().is_cuda());
    EXPECT_EQ(d.grad().to_vector<float>(), (std::vector<float>{2.f, 4.f}));
    // to(f32 -> f64) on the device carries the gradient back as f32.
    Tensor e = Tensor::from_vector<float>({1.f, 2.f}, {2}, Device::cuda());
    e.set_requires_grad();
    sum(e.to(DType::f64).cpu() * 3.0).backward();
    EXPECT_EQ(e.grad().dtype(), DType::f32);
    EXPECT_EQ(e.grad().to_vector<float>(), (std::vector<float>{3.f, 3.f}));
}

}  // namespace
}  // namespace cbnn

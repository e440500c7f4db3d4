// Tensor handle: factories, metadata, data access, copies, casts and bad-input errors.
#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "tensor/backend.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

TEST(TensorBasics, FactoriesFillValuesAndMetadata) {
    const Tensor z = Tensor::zeros({2, 3});
    EXPECT_EQ(z.shape(), (Shape{2, 3}));
    EXPECT_EQ(z.strides(), (Shape{3, 1}));
    EXPECT_EQ(z.numel(), 6);
    EXPECT_EQ(z.dtype(), DType::f32);
    EXPECT_TRUE(z.device().is_cpu());
    EXPECT_TRUE(z.is_contiguous());
    EXPECT_EQ(z.to_vector<float>(), std::vector<float>(6, 0.f));
    EXPECT_EQ(Tensor::full({2}, 2.5, DType::f64).to_vector<double>(),
              (std::vector<double>{2.5, 2.5}));
    EXPECT_EQ(Tensor::ones({3}, DType::i64).to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 1}));
    EXPECT_EQ(Tensor::arange(4).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3}));
    EXPECT_EQ(Tensor::arange(3, DType::f32).to_vector<float>(), (std::vector<float>{0, 1, 2}));
}

TEST(TensorBasics, FromVectorRoundTripsEveryDtype) {
    EXPECT_EQ(Tensor::from_vector<uint8_t>({0, 7, 255}, {3}).to_vector<uint8_t>(),
              (std::vector<uint8_t>{0, 7, 255}));
    EXPECT_EQ(Tensor::from_vector<int64_t>({-5, 1LL << 40}, {2}).to_vector<int64_t>(),
              (std::vector<int64_t>{-5, 1LL << 40}));
    EXPECT_EQ(Tensor::from_vector<double>({0.1, -3.0}, {2, 1}).to_vector<double>(),
              (std::vector<double>{0.1, -3.0}));
    EXPECT_EQ(Tensor::from_vector<double>({0.25}, {}).item<double>(), 0.25);
}

TEST(TensorBasics, WrongSizesAndDtypesAreClearErrors) {
    EXPECT_THROW(Tensor::from_vector<float>({1, 2, 3}, {2, 2}), Error);
    EXPECT_THROW(Tensor::zeros({2, -1}), Error);
    const Tensor t = Tensor::zeros({2});
    EXPECT_THROW(t.data<double>(), Error);
    EXPECT_THROW(t.item<float>(), Error);
    try {
        t.to_vector<int64_t>();
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("f32[2] cpu"), std::string::npos) << e.what();
    }
}

TEST(TensorBasics, CastConvertsLikeStaticCast) {
    const Tensor x = Tensor::from_vector<float>({-1.75f, 0.5f, 2.99f}, {3});
    EXPECT_EQ(x.to(DType::i64).to_vector<int64_t>(), (std::vector<int64_t>{-1, 0, 2}));
    EXPECT_EQ(x.to(DType::f64).to_vector<double>(), (std::vector<double>{-1.75, 0.5, 2.99f}));
    EXPECT_EQ(Tensor::from_vector<uint8_t>({200}, {1}).to(DType::f32).item<float>(), 200.f);
}

TEST(TensorBasics, CopyBroadcastsAndBumpsVersion) {
    Tensor dst = Tensor::zeros({2, 3});
    const uint64_t v0 = dst.version();
    dst.copy_(Tensor::from_vector<float>({1, 2, 3}, {3}));
    EXPECT_EQ(dst.to_vector<float>(), (std::vector<float>{1, 2, 3, 1, 2, 3}));
    EXPECT_GT(dst.version(), v0);
    EXPECT_THROW(dst.copy_(Tensor::zeros({4})), Error);
}

TEST(TensorBasics, DeviceParsingAndMissingGpuAreClearErrors) {
    EXPECT_EQ(Device::parse("cpu"), Device::cpu());
    EXPECT_EQ(Device::parse("cuda:1"), Device::cuda(1));
    EXPECT_THROW(Device::parse("gpu"), Error);
    EXPECT_THROW(Device::parse("cuda:x"), Error);
    if (!cuda_available()) {
        try {
            Tensor::zeros({2}, DType::f32, Device::cuda());
            FAIL() << "expected an error without a GPU";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("CUDA was requested"), std::string::npos)
                << e.what();
        }
        EXPECT_FALSE(cuda_unavailable_reason().empty());
    }
}

TEST(TensorBasics, PrintingShowsDtypeShapeDeviceAndValues) {
    const Tensor t = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
    EXPECT_EQ(t.to_string(), "f32[2, 3] cpu\n[[1, 2, 3],\n [4, 5, 6]]");
    const Tensor long_row = Tensor::arange(10);
    EXPECT_EQ(long_row.to_string(2), "i64[10] cpu\n[0, 1, ..., 8, 9]");
    EXPECT_EQ(Tensor::from_vector<uint8_t>({3}, {}).to_string(), "u8[] cpu\n3");
}

}  // namespace
}  // namespace cbnn

// save_state / load_state with bf16 tensors (dtype code 4): every bf16 bit pattern, NaNs included,
// survives a round trip, and the stored dtype must match the model's like any other dtype.
#include <cstdint>
#include <vector>

#include "autograd/grad_mode.h"
#include "gtest/gtest.h"
#include "layers/state_io.h"
#include "tests/support/expect_error.h"

namespace cbnn {
namespace {

class Bf16Holder : public Module {
  public:
    explicit Bf16Holder(DType dtype) {
        w_ = register_parameter("w", Tensor::zeros({256, 256}, dtype));
    }
    std::string type_name() const override { return "Bf16Holder"; }
    Tensor w_;
};

TEST(StateIoBf16, EveryBitPatternRoundTrips) {
    std::vector<bfloat16> all(65536);
    for (uint32_t p = 0; p <= 0xffff; ++p) all[p] = bfloat16::from_bits(static_cast<uint16_t>(p));
    Bf16Holder saved(DType::bf16);
    {
        NoGradGuard no_grad;
        saved.w_.copy_(Tensor::from_vector<bfloat16>(all, {256, 256}));
    }
    const std::vector<uint8_t> bytes = serialize_state(saved);
    // magic 8, version 4, count 8, name length 4, name "w" 1, kind 1: the dtype byte is at 26.
    EXPECT_EQ(bytes[26], 4u);
    Bf16Holder loaded(DType::bf16);
    deserialize_state(loaded, bytes);
    const std::vector<bfloat16> back = loaded.w_.to_vector<bfloat16>();
    for (uint32_t p = 0; p <= 0xffff; ++p) ASSERT_EQ(back[p].bits, p) << p;
}

TEST(StateIoBf16, DtypeMismatchIsAnError) {
    const std::vector<uint8_t> bytes = serialize_state(Bf16Holder(DType::bf16));
    Bf16Holder f32_model(DType::f32);
    EXPECT_TRUE(testing::throws_error([&] { deserialize_state(f32_model, bytes); },
                                      {"'w'", "bf16", "f32"}));
}

}  // namespace
}  // namespace cbnn

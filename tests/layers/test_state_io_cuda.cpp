// State saved from a CUDA module loads bit-exactly into a CPU one and the other way round; loading
// into a CUDA module keeps its tensors on the GPU and its handles valid.
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "layers/linear.h"
#include "layers/state_io.h"
#include "tests/support/gpu.h"

namespace cbnn {
namespace {

class Head : public Module {
  public:
    explicit Head(uint64_t seed) {
        Generator gen(seed);
        fc_ = register_module("fc", std::make_shared<Linear>(64, 10, true, gen));
        steps_ = register_buffer("steps",
                                 Tensor::from_vector<int64_t>({static_cast<int64_t>(seed)}, {1}));
    }
    std::string type_name() const override { return "Head"; }
    std::shared_ptr<Linear> fc_;
    Tensor steps_;
};

std::string temp_path(const std::string& name) {
    return (std::filesystem::path(::testing::TempDir()) /
            ("cbnn_state_io_cuda_" + std::to_string(::getpid()) + "_" + name))
        .string();
}

TEST(StateIoCuda, CudaToCpuAndCpuToCudaAreBitExact) {
    CBNN_REQUIRE_GPU();
    const std::string p = temp_path("head.state");

    Head gpu(1);
    gpu.to(Device::cuda());
    save_state(gpu, p);
    Head cpu(2);
    load_state(cpu, p);
    EXPECT_EQ(cpu.fc_->weight().to_vector<float>(), gpu.fc_->weight().to_vector<float>());
    EXPECT_EQ(cpu.steps_.to_vector<int64_t>(), (std::vector<int64_t>{1}));
    EXPECT_TRUE(cpu.fc_->weight().device().is_cpu());
    // Same bytes whichever device the module was saved from.
    EXPECT_EQ(serialize_state(gpu), serialize_state(cpu));

    Head source(3);
    save_state(source, p);
    Head target(4);
    target.to(Device::cuda());
    const Tensor weight = target.fc_->weight();
    load_state(target, p);
    EXPECT_TRUE(weight.is_cuda());
    EXPECT_TRUE(weight.is_same(target.fc_->weight()));
    EXPECT_EQ(weight.to_vector<float>(), source.fc_->weight().to_vector<float>());
    EXPECT_EQ(target.fc_->bias().to_vector<float>(), source.fc_->bias().to_vector<float>());
    EXPECT_EQ(target.steps_.to_vector<int64_t>(), (std::vector<int64_t>{3}));
    std::filesystem::remove(p);
}

}  // namespace
}  // namespace cbnn

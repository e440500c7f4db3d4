// Sgd on CUDA against the CPU reference: the raw update (heavy-ball and Nesterov, with weight
// decay, sizes around the block and grid), a step of Sgd on a CUDA module, and the guard's norm.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "layers/linear.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"
#include "train/guard.h"
#include "train/sgd.h"

namespace cbnn {
namespace {

using testing::all_close;
using testing::kCudaVsCpu;
using testing::random_tensor;

TEST(SgdCuda, UpdateMatchesCpu) {
    CBNN_REQUIRE_GPU();
    uint64_t seed = 300;
    for (int64_t n : {int64_t{1}, int64_t{255}, int64_t{257}, int64_t{100003}}) {
        for (bool nesterov : {false, true}) {
            const Tensor p0 = random_tensor({n}, -1, 1, seed++, DType::f32);
            const Tensor g0 = random_tensor({n}, -1, 1, seed++, DType::f32);
            const Tensor v0 = random_tensor({n}, -1, 1, seed++, DType::f32);
            Tensor p = p0.clone(), v = v0.clone();
            Tensor pc = p0.cuda(), gc = g0.cuda(), vc = v0.cuda();
            for (int s = 0; s < 3; ++s) {
                ops::sgd_update(p, g0, v, 0.1, 0.9, 2e-4, nesterov);
                ops::sgd_update(pc, gc, vc, 0.1, 0.9, 2e-4, nesterov);
            }
            const std::string where =
                "n " + std::to_string(n) + " nesterov " + std::to_string(nesterov);
            EXPECT_TRUE(all_close(pc, p, kCudaVsCpu)) << where;
            EXPECT_TRUE(all_close(vc, v, kCudaVsCpu)) << where;
        }
    }
}

TEST(SgdCuda, StepOnCudaModuleMatchesCpu) {
    CBNN_REQUIRE_GPU();
    Generator gen(5);
    Linear cpu_fc(16, 10, true, gen);
    Generator gen2(5);
    Linear cuda_fc(16, 10, true, gen2);
    cuda_fc.to(Device::cuda());
    SgdOptions opt;
    opt.weight_decay = 1e-3;
    opt.nesterov = true;
    opt.no_decay_names = {"bias"};
    Sgd cpu_sgd(cpu_fc.named_parameters(), opt);
    Sgd cuda_sgd(cuda_fc.named_parameters(), opt);
    uint64_t seed = 400;
    for (int s = 0; s < 3; ++s) {
        for (const auto& [name, p] : cpu_fc.named_parameters()) {
            const Tensor g = random_tensor(p.shape(), -1, 1, seed++, DType::f32);
            p.set_grad(g);
            cuda_fc.parameter(name).set_grad(g.cuda());
        }
        EXPECT_NEAR(global_grad_norm(cuda_fc.named_parameters()),
                    global_grad_norm(cpu_fc.named_parameters()), 1e-4);
        cpu_sgd.step(0.1);
        cuda_sgd.step(0.1);
    }
    for (const auto& [name, p] : cpu_fc.named_parameters()) {
        const Tensor pc = cuda_fc.parameter(name);
        ASSERT_TRUE(pc.is_cuda()) << name;
        EXPECT_TRUE(all_close(pc, p, kCudaVsCpu)) << name;
    }
    EXPECT_TRUE(all_close(cuda_sgd.state()[0].second, cpu_sgd.state()[0].second, kCudaVsCpu));
}

}  // namespace
}  // namespace cbnn

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

// Sgd::step on CUDA goes through cuda::sgd_update_multi: more parameters than one launch holds,
// sizes from 1 to beyond a block row, parameters without a gradient (untouched), a strided
// gradient, decayed and undecayed parameters, and a rate changed with set_learning_rate between
// steps, as a CUDA-graph replay does. Reference: the same steps on the CPU.
TEST(SgdCuda, MultiTensorStepMatchesCpu) {
    CBNN_REQUIRE_GPU();
    const int count = 2 * cuda::kSgdTensorsPerLaunch + 5;
    NamedTensors cpu_params, cuda_params;
    uint64_t seed = 900;
    for (int i = 0; i < count; ++i) {
        const int64_t n = i % 7 == 0 ? 1 : (i * 7919) % 70000 + 3;
        Tensor p = random_tensor({n}, -1, 1, seed++, DType::f32);
        Tensor pc = p.cuda();
        p.set_requires_grad();
        pc.set_requires_grad();
        cpu_params.emplace_back("p" + std::to_string(i), p);
        cuda_params.emplace_back("p" + std::to_string(i), pc);
    }
    for (bool nesterov : {false, true}) {
        SgdOptions opt;
        opt.weight_decay = 5e-3;
        opt.nesterov = nesterov;
        opt.no_decay = [](const std::string& name) { return name.size() == 3; };  // p10..p99
        Sgd cpu_sgd(cpu_params, opt);
        Sgd cuda_sgd(cuda_params, opt);
        for (int s = 0; s < 3; ++s) {
            for (int i = 0; i < count; ++i) {
                const Tensor& p = cpu_params[i].second;
                if ((i + s) % 11 == 0) {  // unused in this step
                    p.set_grad(Tensor());
                    cuda_params[i].second.set_grad(Tensor());
                    continue;
                }
                // Column 0 of (n, 2): a gradient with stride 2 for every fifth CUDA parameter.
                const Tensor g = random_tensor({p.numel(), 2}, -1, 1, seed++, DType::f32);
                // column.contiguous(), by the test support's row-wise copy: the generic strided
                // copy divides by every size for every element, millions of times here.
                const Tensor column = testing::host_as(g.narrow(1, 0, 1).squeeze(1), DType::f32);
                p.set_grad(column);
                cuda_params[i].second.set_grad(i % 5 == 0 ? g.cuda().narrow(1, 0, 1).squeeze(1)
                                                          : column.cuda());
            }
            const double lr = 0.1 / (s + 1);
            cpu_sgd.step(lr);
            cuda_sgd.set_learning_rate(lr);
            cuda_sgd.step();
        }
        for (int i = 0; i < count; ++i) {
            EXPECT_TRUE(all_close(cuda_params[i].second, cpu_params[i].second, kCudaVsCpu))
                << cpu_params[i].first << " nesterov " << nesterov;
            EXPECT_TRUE(
                all_close(cuda_sgd.state()[i].second, cpu_sgd.state()[i].second, kCudaVsCpu))
                << "momentum of " << cpu_params[i].first;
        }
    }
}

}  // namespace
}  // namespace cbnn

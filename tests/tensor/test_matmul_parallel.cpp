// cpu::gemm_parallel (the multi-threaded CPU GEMM) against the reference cpu::gemm: bitwise
// equal for every transpose combination, alpha/beta, leading dimensions larger than the rows,
// odd and larger shapes, f32 and f64, and 1, 2 or 3 threads (tensor/parallel.h).
#include <cstdint>
#include <mutex>
#include <random>
#include <stdexcept>
#include <vector>

#include "gtest/gtest.h"
#include "tensor/error.h"
#include "tensor/matmul.h"
#include "tensor/parallel.h"

namespace cbnn {
namespace {

template <class T>
void expect_bitwise_equal_to_reference(uint64_t seed) {
    std::mt19937_64 rng(seed);
    auto pick = [&](int64_t lo, int64_t hi) {
        return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    std::uniform_real_distribution<double> value(-1, 1);
    // Tiny, odd and larger sizes.
    const std::vector<int64_t> sizes = {1, 3, 17, 127, 128, 129, 300, 513, 700};
    for (int trial = 0; trial < 24; ++trial) {
        const int64_t M = sizes[pick(0, 4)], N = sizes[pick(0, 8)], K = sizes[pick(0, 7)];
        const bool ta = pick(0, 1) == 1, tb = pick(0, 1) == 1;
        const int64_t lda = (ta ? M : K) + pick(0, 3), ldb = (tb ? K : N) + pick(0, 3);
        const int64_t ldc = N + pick(0, 3);
        const T alpha = static_cast<T>(trial % 3 == 0 ? 1.0 : value(rng));
        const T beta = static_cast<T>(trial % 4 == 0 ? 0.0 : value(rng));
        std::vector<T> A(static_cast<size_t>((ta ? K : M) * lda)),
            B(static_cast<size_t>((tb ? N : K) * ldb)), C(static_cast<size_t>(M * ldc));
        for (T& v : A) v = static_cast<T>(value(rng));
        for (T& v : B) v = static_cast<T>(value(rng));
        for (T& v : C) v = static_cast<T>(value(rng));
        std::vector<T> expected = C;
        cpu::gemm<T>(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, expected.data(),
                     ldc);
        for (int threads : {1, 2, 3}) {
            const CpuThreadsSetting use(threads);
            std::vector<T> got = C;
            cpu::gemm_parallel<T>(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta,
                                  got.data(), ldc);
            ASSERT_EQ(got, expected) << "M " << M << " N " << N << " K " << K << " trans_a " << ta
                                     << " trans_b " << tb << " threads " << threads;
        }
    }
}

TEST(GemmParallel, BitwiseEqualToTheReferenceFloat) { expect_bitwise_equal_to_reference<float>(1); }

TEST(GemmParallel, BitwiseEqualToTheReferenceDouble) {
    expect_bitwise_equal_to_reference<double>(2);
}

TEST(GemmParallel, EmptyDimensions) {
    std::vector<float> C = {5, 6};
    cpu::gemm_parallel<float>(false, false, 1, 2, 0, 1.f, nullptr, 1, nullptr, 2, 0.5f, C.data(),
                              2);
    EXPECT_EQ(C, (std::vector<float>{2.5f, 3.f}));  // beta C, no products
    cpu::gemm_parallel<float>(false, false, 0, 2, 3, 1.f, nullptr, 3, nullptr, 2, 0.f, nullptr, 2);
}

TEST(ParallelFor, EveryIndexOnceInContiguousChunks) {
    for (int threads : {1, 2, 5}) {
        const CpuThreadsSetting use(threads);
        for (int64_t n : {1, 7, 100, 1000}) {
            std::vector<int> hits(static_cast<size_t>(n), 0);
            parallel_for(n, 10, [&](int64_t begin, int64_t end) {
                ASSERT_LE(begin, end);
                for (int64_t i = begin; i < end; ++i) ++hits[static_cast<size_t>(i)];
            });
            EXPECT_EQ(hits, std::vector<int>(static_cast<size_t>(n), 1)) << n << " " << threads;
        }
    }
}

TEST(ParallelFor, NestedCallsRunAndExceptionsReachTheCaller) {
    const CpuThreadsSetting use(3);
    std::vector<int> hits(300, 0);
    parallel_for(3, 1, [&](int64_t b, int64_t e) {
        for (int64_t outer = b; outer < e; ++outer)
            parallel_for(100, 1, [&](int64_t ib, int64_t ie) {
                for (int64_t i = ib; i < ie; ++i) ++hits[static_cast<size_t>(outer * 100 + i)];
            });
    });
    EXPECT_EQ(hits, std::vector<int>(300, 1));
    EXPECT_THROW(parallel_for(100, 1,
                              [](int64_t b, int64_t) {
                                  if (b > 0) throw std::runtime_error("chunk failed");
                              }),
                 std::runtime_error);
    // The pool still works afterwards.
    int64_t total = 0;
    std::mutex m;
    parallel_for(1000, 1, [&](int64_t b, int64_t e) {
        std::lock_guard<std::mutex> lock(m);
        total += e - b;
    });
    EXPECT_EQ(total, 1000);
    EXPECT_THROW(set_cpu_threads(0), Error);
}

}  // namespace
}  // namespace cbnn

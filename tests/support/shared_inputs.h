#pragma once
// Random inputs shared by the parameterisations of a value-parameterised test whose inputs do not
// depend on the parameter (the CUDA batch-norm tests draw the same seeds for cuDNN's kernels and
// cbnn's): the first parameterisation draws them, the next ones reuse them, which halves the
// host-side cost of a pair (drawing millions of values takes longer than the kernels under test).
//
// gtest runs the parameterisations of one TEST_P one after the other. A SharedRandomInputs member
// of the fixture keeps the inputs drawn in a store that outlives the test; the store is emptied
// when a test of another name constructs one, and when the last parameterisation of this test
// that is going to run (filters and shuffling considered) ends. Other orders only draw again.
// One SharedRandomInputs at a time.

#include <cstdint>

#include "tensor/tensor.h"

namespace cbnn::testing {

class SharedRandomInputs {
  public:
    SharedRandomInputs();
    ~SharedRandomInputs();
    SharedRandomInputs(const SharedRandomInputs&) = delete;
    SharedRandomInputs& operator=(const SharedRandomInputs&) = delete;

    // testing::random_tensor(shape, lo, hi, seed, dtype), the same tensor for every
    // parameterisation: read it, never write into it.
    Tensor random_tensor(const Shape& shape, double lo, double hi, uint64_t seed, DType dtype);
};

}  // namespace cbnn::testing

#include "tests/support/shared_inputs.h"

#include <map>
#include <string>
#include <tuple>

#include "gtest/gtest.h"
#include "tests/support/random.h"

namespace cbnn::testing {

namespace {

using Key = std::tuple<Shape, double, double, uint64_t, DType>;

struct Store {
    std::string owner;  // the test the inputs were drawn for, without its parameter's suffix
    std::map<Key, Tensor> tensors;
};

// Never destroyed: tensors left in it at exit (a test that threw) would otherwise be freed after
// the CPU allocator, a static too.
Store& store() {
    static Store* s = new Store;
    return *s;
}

// "Suite.Test" of "Suite.Test/param" (a value-parameterised test's name ends in /<param>).
std::string test_without_param(const ::testing::TestInfo& info) {
    const std::string name = info.name();
    return std::string(info.test_suite_name()) + "." + name.substr(0, name.rfind('/'));
}

}  // namespace

SharedRandomInputs::SharedRandomInputs() {
    const ::testing::TestInfo* current = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::string owner = current ? test_without_param(*current) : std::string();
    if (store().owner != owner) store() = Store{owner, {}};
}

SharedRandomInputs::~SharedRandomInputs() {
    const ::testing::UnitTest* unit = ::testing::UnitTest::GetInstance();
    const ::testing::TestInfo* current = unit->current_test_info();
    const ::testing::TestSuite* suite = unit->current_test_suite();
    bool reused = false;
    if (current && suite) {
        // Whether a parameterisation of this test runs after this one, in run order.
        bool after = false;
        for (int i = 0; i < suite->total_test_count() && !reused; ++i) {
            const ::testing::TestInfo* t = suite->GetTestInfo(i);
            if (t == current) {
                after = true;
            } else if (after && t->should_run() &&
                       test_without_param(*t) == test_without_param(*current)) {
                reused = true;
            }
        }
    }
    if (!reused) store() = Store{};
}

Tensor SharedRandomInputs::random_tensor(const Shape& shape, double lo, double hi, uint64_t seed,
                                         DType dtype) {
    const Key key{shape, lo, hi, seed, dtype};
    auto it = store().tensors.find(key);
    if (it == store().tensors.end())
        it = store().tensors.emplace(key, testing::random_tensor(shape, lo, hi, seed, dtype)).first;
    return it->second;
}

}  // namespace cbnn::testing

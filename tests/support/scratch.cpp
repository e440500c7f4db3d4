// Removes this process's scratch folder (tests/support/scratch.h) when the test program ends.
#include "tests/support/scratch.h"

#include <system_error>

#include "gtest/gtest.h"

namespace cbnn::testing {
namespace {

class ScratchCleanup : public ::testing::Environment {
  public:
    void TearDown() override {
        std::error_code ignored;
        std::filesystem::remove_all(
            std::filesystem::temp_directory_path() / ("cbnn_test_" + std::to_string(::getpid())),
            ignored);
    }
};

[[maybe_unused]] ::testing::Environment* const kCleanup =
    ::testing::AddGlobalTestEnvironment(new ScratchCleanup);

}  // namespace
}  // namespace cbnn::testing

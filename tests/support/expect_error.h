#pragma once
// Checks that a call throws cbnn::Error and that the message names what it should (the shapes,
// dtypes, versions, ...): "one clear message naming the value" is part of every op's contract.
//
//   EXPECT_TRUE(throws_error([&] { ops::add(a, b); }, {"[2, 3]", "[4]"}));
//   EXPECT_EQ(error_message([&] { ops::add(a, b); }), "add: shapes [2, 3] and [4] cannot ...");

#include <functional>
#include <initializer_list>
#include <string>

#include "gtest/gtest.h"
#include "tensor/error.h"

namespace cbnn::testing {

template <class F>
::testing::AssertionResult throws_error(F&& f, std::initializer_list<std::string> parts) {
    try {
        f();
    } catch (const Error& e) {
        const std::string message = e.what();
        for (const std::string& part : parts) {
            if (message.find(part) == std::string::npos) {
                return ::testing::AssertionFailure()
                       << "message \"" << message << "\" does not contain \"" << part << "\"";
            }
        }
        return ::testing::AssertionSuccess() << message;
    } catch (const std::exception& e) {
        return ::testing::AssertionFailure() << "threw a non-cbnn exception: " << e.what();
    }
    return ::testing::AssertionFailure() << "no exception was thrown";
}

// The message of the cbnn::Error that f throws, or "(no error)", for tests that compare the whole
// message text.
inline std::string error_message(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace cbnn::testing

#pragma once
// Checks that a call throws cbnn::Error and that the message names what it should (the shapes,
// dtypes, versions, ...): "one clear message naming the value" is part of every op's contract.
//
//   EXPECT_TRUE(throws_error([&] { ops::add(a, b); }, {"[2, 3]", "[4]"}));

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

}  // namespace cbnn::testing

#pragma once
// CUDA tests skip cleanly (never fail) where no GPU or driver is present.

#include "gtest/gtest.h"
#include "tensor/backend.h"

#define CBNN_REQUIRE_GPU()                                                   \
    do {                                                                     \
        if (!::cbnn::cuda_available())                                       \
            GTEST_SKIP() << "no GPU: " << ::cbnn::cuda_unavailable_reason(); \
    } while (0)

#pragma once
// Scalar formulas of tensor/binary.h, shared by the CPU reference and the CUDA kernel.

#include "tensor/binary.h"
#include "tensor/hd.h"

namespace cbnn {

template <class T>
CBNN_HD T binary_apply(BinaryOp op, T a, T b) {
    switch (op) {
        case BinaryOp::add:
            return a + b;
        case BinaryOp::sub:
            return a - b;
        case BinaryOp::mul:
            return a * b;
        case BinaryOp::div:
            return a / b;
        case BinaryOp::maximum:
            return a >= b ? a : b;
        case BinaryOp::minimum:
            return a <= b ? a : b;
    }
    return a;
}

template <class T>
CBNN_HD bool compare_apply(CompareOp op, T a, T b) {
    switch (op) {
        case CompareOp::eq:
            return a == b;
        case CompareOp::ne:
            return a != b;
        case CompareOp::lt:
            return a < b;
        case CompareOp::le:
            return a <= b;
        case CompareOp::gt:
            return a > b;
        case CompareOp::ge:
            return a >= b;
    }
    return false;
}

}  // namespace cbnn

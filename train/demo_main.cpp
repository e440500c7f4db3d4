#include <iostream>

#include "autograd/functions.h"
#include "tensor/backend.h"

int main() {
    using namespace cbnn;
    Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
    x.set_requires_grad();
    Tensor y = sum(exp(x) * 2.0);
    y.backward();
    std::cout << y << "\n" << x.grad() << "\n" << cuda_unavailable_reason() << "\n";
}

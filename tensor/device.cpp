#include "tensor/device.h"

#include <ostream>

#include "tensor/error.h"

namespace cbnn {

Device Device::parse(const std::string& text) {
    if (text == "cpu") return cpu();
    if (text == "cuda") return cuda(0);
    if (text.rfind("cuda:", 0) == 0 && text.size() > 5) {
        const std::string digits = text.substr(5);
        bool all_digits = digits.size() <= 3;
        for (char c : digits) all_digits = all_digits && c >= '0' && c <= '9';
        if (all_digits) return cuda(std::stoi(digits));
    }
    CBNN_FAIL("unknown device '", text, "' (expected cpu, cuda or cuda:N)");
}

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

std::ostream& operator<<(std::ostream& os, const Device& device) { return os << device.str(); }

}  // namespace cbnn

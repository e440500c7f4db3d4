#pragma once
// Where a tensor's storage lives: host memory or one CUDA device.

#include <iosfwd>
#include <string>

namespace cbnn {

enum class DeviceType : unsigned char { cpu, cuda };

struct Device {
    DeviceType type = DeviceType::cpu;
    int index = 0;

    static Device cpu() { return {DeviceType::cpu, 0}; }
    static Device cuda(int index = 0) { return {DeviceType::cuda, index}; }
    // Parses "cpu", "cuda" or "cuda:N"; anything else is a cbnn::Error naming the text.
    static Device parse(const std::string& text);

    bool is_cpu() const { return type == DeviceType::cpu; }
    bool is_cuda() const { return type == DeviceType::cuda; }
    std::string str() const;
    friend bool operator==(const Device&, const Device&) = default;
};

std::ostream& operator<<(std::ostream& os, const Device& device);

}  // namespace cbnn

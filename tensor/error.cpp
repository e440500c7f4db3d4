#include "tensor/error.h"

#include <algorithm>
#include <cstdio>

namespace cbnn {

std::string quote_for_message(const std::string& text, size_t max_bytes) {
    std::string out = "\"";
    const size_t shown = std::min(text.size(), max_bytes);
    for (size_t i = 0; i < shown; ++i) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (byte == '\\' || byte == '"') {
            out += '\\';
            out += static_cast<char>(byte);
        } else if (byte >= 0x20 && byte < 0x7f) {
            out += static_cast<char>(byte);
        } else {
            char hex[5];
            std::snprintf(hex, sizeof hex, "\\x%02x", byte);
            out += hex;
        }
    }
    if (shown < text.size()) return out + "...\" (" + std::to_string(text.size()) + " bytes)";
    return out + '"';
}

namespace detail {

void throw_error(const std::string& message) { throw Error(message); }

}  // namespace detail
}  // namespace cbnn

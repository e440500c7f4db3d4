#include "tensor/error.h"

namespace cbnn::detail {

void throw_error(const std::string& message) { throw Error(message); }

}  // namespace cbnn::detail

#pragma once
// Command-line parsing shared by every cbnn tool (cbnn-weights, cbnn-loss, cbnn-data, cbnn-demo,
// cbnn-eval and the trainers): the documented exit statuses, and numbers that mean exactly what
// was typed. Header-only: CLI11 is linked into the executables, not into the library.
//
// CLI11 alone exits with its own codes (104-114) on a bad command line, reads integers with
// base-0 strtoll/strtoull ("-1" wraps to 2^64 - 1 in an unsigned, "010" is 8, an overflow
// saturates, an empty list item is dropped) and takes "nan" and "inf" for reals.
// parse() maps every bad command line to exit status 1; add_number() reads a whole number
// exactly, in decimal and within its type's range, a real only when it is finite, and a list
// item by item.
//
//   cli::add_number(app, "--seed", seed, "random seed");
//   cli::add_number(app, "--beta", beta, "in [0, 1)")->check(cli::between(0, 1, cli::Upper::open));
//   if (const std::optional<int> status = cli::parse(app, argc, argv)) return *status;
#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

namespace cbnn::cli {

// Parses the command line. Returns nothing when the tool should go on, else its exit status: 0
// after --help, 1 for any bad flag or value (CLI11 has printed its one message to stderr).
[[nodiscard]] inline std::optional<int> parse(CLI::App& app, int argc, char** argv) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 1;
    }
    return std::nullopt;
}

namespace detail {

template <class T>
struct Element {
    using type = T;
};
template <class T>
struct Element<std::vector<T>> {
    using type = T;
};
template <class T>
struct Element<std::optional<T>> {
    using type = T;
};

template <class T>
std::string str(T value) {
    std::ostringstream s;
    s << value;
    return s.str();
}

// Reads all of `text` as a T: decimal only, no '+', leading space or 0x that strtoll would take.
template <class T>
bool read_exactly(const std::string& text, T& value) {
    const char* end = text.data() + text.size();
    const std::from_chars_result r = std::from_chars(text.data(), end, value);
    return r.ec == std::errc() && r.ptr == end;
}

// A whole number in T's range, rewritten in plain decimal so that CLI11's own base-0 conversion
// reads the value checked ("010" is 10); a real only when it is finite. Returns the error.
template <class T>
std::string exact(std::string& text) {
    T value{};
    if constexpr (std::is_integral_v<T>) {
        if (!read_exactly(text, value))
            return "'" + text + "' is not a whole number from " +
                   std::to_string(std::numeric_limits<T>::min()) + " to " +
                   std::to_string(std::numeric_limits<T>::max());
        text = std::to_string(value);
    } else {
        if (!read_exactly(text, value) || !std::isfinite(value))
            return "'" + text + "' is not a finite number";
    }
    return "";
}

}  // namespace detail

// app.add_option(name, variable, help) for a number or a std::optional of one, read exactly (see
// the top of this file).
template <class T>
CLI::Option* add_number(CLI::App& app, const std::string& name, T& variable,
                        const std::string& help = "") {
    using Number = typename detail::Element<T>::type;
    static_assert(std::is_arithmetic_v<Number> && !std::is_same_v<Number, bool>);
    return app.add_option(name, variable, help)
        ->transform(CLI::Validator(detail::exact<Number>, "", "EXACT"));
}

// A list of numbers, comma-separated and/or given as several arguments, each item read exactly.
// CLI11's own delimiter drops empty items ("5,,3" would be two numbers); here an empty item, like
// an empty list, is an error.
template <class T>
CLI::Option* add_number(CLI::App& app, const std::string& name, std::vector<T>& variable,
                        const std::string& help = "") {
    static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>);
    const auto read = [&variable, name](const CLI::results_t& args) {
        std::vector<T> values;
        for (const std::string& arg : args) {
            for (size_t start = 0;;) {
                const size_t comma = arg.find(',', start);
                std::string item = arg.substr(start, comma - start);
                const std::string error = detail::exact<T>(item);
                if (!error.empty()) throw CLI::ValidationError(name, error + " (in '" + arg + "')");
                values.emplace_back();
                detail::read_exactly(item, values.back());
                if (comma == std::string::npos) break;
                start = comma + 1;
            }
        }
        variable = std::move(values);
        return true;
    };
    const auto shown = [&variable] {
        std::string text;
        for (const T& v : variable) text += (text.empty() ? "" : ",") + detail::str(v);
        return "[" + text + "]";
    };
    return app.add_option(name, read, help, false, shown)
        ->type_name(CLI::detail::type_name<T>())
        ->expected(CLI::detail::expected_max_vector_size);
}

enum class Upper { closed, open };

// A number in [lo, hi] or [lo, hi), for an add_number option; an infinite hi leaves only the
// lower bound. The message names the interval as a user writes it: "--beta: 1 is not in [0, 1)".
inline CLI::Validator between(double lo, double hi, Upper upper = Upper::closed) {
    const std::string range = std::isinf(hi) ? ">= " + detail::str(lo)
                                             : "in [" + detail::str(lo) + ", " + detail::str(hi) +
                                                   (upper == Upper::open ? ")" : "]");
    return CLI::Validator(
        [=](std::string& text) -> std::string {
            double value = 0;
            const bool inside = detail::read_exactly(text, value) && value >= lo &&
                                (value < hi || (upper == Upper::closed && value == hi));
            return inside ? "" : text + " is not " + range;
        },
        "", "BETWEEN");
}

// A number > 0, for an add_number option: "--lr: 0 is not > 0".
inline CLI::Validator positive() {
    return CLI::Validator(
        [](std::string& text) -> std::string {
            double value = 0;
            return detail::read_exactly(text, value) && value > 0 ? "" : text + " is not > 0";
        },
        "", "POSITIVE");
}

}  // namespace cbnn::cli

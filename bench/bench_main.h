#pragma once
// main() for benchmark executables that a timeout may kill: BENCHMARK_MAIN with stdout
// line-buffered. Google Benchmark prints each case's line through std::cout, which goes to C's
// stdout; into a pipe (scripts/gpu-check.sh tees every benchmark) that is fully buffered, so a
// binary killed by its timeout would take its last few kilobytes of finished results with it.
//
//   int main(int argc, char** argv) { return cbnn::bench::run_line_buffered(argc, argv); }
#include <benchmark/benchmark.h>

#include <cstdio>

namespace cbnn::bench {

inline int run_line_buffered(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, BUFSIZ);  // before anything is printed
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}

}  // namespace cbnn::bench

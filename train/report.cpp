#include "train/report.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <limits>
#include <sstream>

#include "tensor/backend.h"
#include "tensor/error.h"
#include "tensor/file_io.h"
#include "train/evaluate.h"

#ifdef CBNN_WITH_CUDA
#include <cuda_runtime_api.h>
#include <cudnn.h>
#endif

namespace cbnn::train {

std::string json_text(const nlohmann::json& j, int indent) {
    return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json number_or_null(double v) {
    return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double number_or_nan(const nlohmann::json& j, const char* key) {
    const auto it = j.find(key);
    return (it != j.end() && it->is_number()) ? it->get<double>() : kNaN;
}

std::string cpu_model_name() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) == 0) {
            const auto colon = line.find(':');
            if (colon != std::string::npos)
                return line.substr(line.find_first_not_of(' ', colon + 1));
        }
    }
    return "unknown CPU";
}

#ifdef CBNN_WITH_CUDA
// 12040 -> "12.4".
std::string cuda_version_string(int v) {
    return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}
#endif

// Reads metrics.jsonl, keeping records with epoch <= last_epoch; stops at the first line that
// does not parse (a line torn by a kill can only be the last one).
std::vector<EpochRecord> read_metrics(const std::filesystem::path& path, int64_t last_epoch) {
    std::vector<EpochRecord> records;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded() || !j.is_object() || !j.contains("epoch")) break;
        const EpochRecord r = EpochRecord::from_json(j);
        if (r.epoch <= last_epoch) records.push_back(r);
    }
    return records;
}

}  // namespace

std::vector<int64_t> recorded_epochs(const std::filesystem::path& dir) {
    std::vector<int64_t> epochs;
    for (const EpochRecord& r :
         read_metrics(dir / "metrics.jsonl", std::numeric_limits<int64_t>::max()))
        epochs.push_back(r.epoch);
    return epochs;
}

EpochRecord::EpochRecord()
    : loss(kNaN),
      lr(kNaN),
      train_error(kNaN),
      test_error(kNaN),
      top5(kNaN),
      seconds(kNaN),
      eval_seconds(kNaN),
      images_per_second(kNaN),
      many(kNaN),
      medium(kNaN),
      few(kNaN) {}

nlohmann::json EpochRecord::to_json() const {
    nlohmann::json j = nlohmann::json::object();
    j["epoch"] = epoch;
    j["loss"] = number_or_null(loss);
    j["lr"] = number_or_null(lr);
    j["train_error"] = number_or_null(train_error);
    j["test_error"] = number_or_null(test_error);
    j["top5"] = number_or_null(top5);
    j["seconds"] = number_or_null(seconds);
    j["eval_seconds"] = number_or_null(eval_seconds);
    j["images_per_second"] = number_or_null(images_per_second);
    j["many"] = number_or_null(many);
    j["medium"] = number_or_null(medium);
    j["few"] = number_or_null(few);
    return j;
}

EpochRecord EpochRecord::from_json(const nlohmann::json& j) {
    CBNN_CHECK(j.is_object() && j.contains("epoch") && j["epoch"].is_number_integer(),
               "metrics record without an integer \"epoch\": ", j.dump());
    EpochRecord r;
    r.epoch = j["epoch"].get<int64_t>();
    r.loss = number_or_nan(j, "loss");
    r.lr = number_or_nan(j, "lr");
    r.train_error = number_or_nan(j, "train_error");
    r.test_error = number_or_nan(j, "test_error");
    r.top5 = number_or_nan(j, "top5");
    r.seconds = number_or_nan(j, "seconds");
    r.eval_seconds = number_or_nan(j, "eval_seconds");
    r.images_per_second = number_or_nan(j, "images_per_second");
    r.many = number_or_nan(j, "many");
    r.medium = number_or_nan(j, "medium");
    r.few = number_or_nan(j, "few");
    return r;
}

std::string RunTimes::describe(double total) const {
    const auto s = [](double v) {
        std::ostringstream o;
        o << std::fixed << std::setprecision(1) << v << " s";
        return o.str();
    };
    const auto plural = [](int64_t n, const char* word) {
        return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
    };
    return "time: " + s(total) + ": training " + s(training_) + ", " +
           plural(evaluations_, "evaluation") + " " + s(evaluation_) + ", files " + s(files_) +
           " (" + plural(checkpoints_, "checkpoint") + "), other " +
           s(std::max(0.0, total - training_ - evaluation_ - files_));
}

nlohmann::json build_versions() {
    nlohmann::json v = nlohmann::json::object();
#ifdef CBNN_VERSION
    v["cbnn"] = CBNN_VERSION;
#else
    v["cbnn"] = "unknown";
#endif
#if defined(__clang__)
    v["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    v["compiler"] = std::string("gcc ") + __VERSION__;
#else
    v["compiler"] = "unknown";
#endif
    v["cxx_standard"] = static_cast<int64_t>(__cplusplus);
    v["built_with_cuda"] = built_with_cuda();
    v["device"] = cpu_model_name();
    v["cpu"] = v["device"];
#ifdef CBNN_WITH_CUDA
    // Version queries must not fail a run: a missing driver only leaves fields out.
    int runtime = 0;
    if (cudaRuntimeGetVersion(&runtime) == cudaSuccess)
        v["cuda_runtime"] = cuda_version_string(runtime);
    int driver = 0;
    if (cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0)
        v["cuda_driver"] = cuda_version_string(driver);
    v["cudnn_compiled"] = std::to_string(CUDNN_MAJOR) + "." + std::to_string(CUDNN_MINOR) + "." +
                          std::to_string(CUDNN_PATCHLEVEL);
    v["cudnn_runtime"] = static_cast<int64_t>(cudnnGetVersion());
    if (cuda_available()) {
        int device = 0;
        cudaDeviceProp prop{};
        if (cudaGetDevice(&device) == cudaSuccess &&
            cudaGetDeviceProperties(&prop, device) == cudaSuccess) {
            v["device"] = std::string(prop.name);
            v["gpu_memory_bytes"] = static_cast<int64_t>(prop.totalGlobalMem);
        }
    }
#endif
    return v;
}

void create_run_folder(const std::filesystem::path& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    CBNN_CHECK(!ec && std::filesystem::is_directory(dir), "cannot create output folder ",
               dir.string(), ": ", ec ? ec.message() : "not a directory");
}

void prepare_run_folder(const std::filesystem::path& dir, bool resume) {
    create_run_folder(dir);
    CBNN_CHECK(resume || !std::filesystem::exists(dir / "config.json"), "output folder ",
               dir.string(), " already holds a run (", (dir / "config.json").string(),
               "); pass --resume to continue it or choose another --out");
}

RunWriter::RunWriter(std::filesystem::path dir, bool resume, int64_t resume_epoch)
    : dir_(std::move(dir)) {
    prepare_run_folder(dir_, resume);
    if (!resume) {
        // A metrics file without config (a run killed before writing it) is stale: start anew.
        std::filesystem::remove(metrics_path());
        return;
    }
    CBNN_CHECK(resume_epoch >= 0, "RunWriter: resume_epoch must be >= 0, got ", resume_epoch);
    if (std::filesystem::exists(metrics_path())) {
        epochs_ = read_metrics(metrics_path(), resume_epoch);
        std::string kept;
        for (const EpochRecord& r : epochs_) kept += r.to_json().dump() + "\n";
        write_file_atomic(metrics_path().string(), kept, "metrics.jsonl");
    }
}

void RunWriter::write_config(const nlohmann::json& settings) {
    settings_ = settings;
    nlohmann::json config = nlohmann::json::object();
    config["settings"] = settings;
    config["versions"] = build_versions();
    write_file_atomic(config_path().string(), config.dump(2) + "\n", "config.json");
}

void RunWriter::append_epoch(const EpochRecord& record) {
    CBNN_CHECK(epochs_.empty() || record.epoch > epochs_.back().epoch, "append_epoch: epoch ",
               record.epoch, " does not follow the last written epoch ",
               epochs_.empty() ? 0 : epochs_.back().epoch);
    const std::string line = record.to_json().dump() + "\n";
    std::FILE* f = std::fopen(metrics_path().c_str(), "a");
    CBNN_CHECK(f != nullptr, "cannot open ", metrics_path().string(), ": ", std::strerror(errno));
    // fsync: the line is on disk before the next epoch's checkpoint; a line lost after its own
    // checkpoint comes back from that checkpoint on resume (train/train_loop.cpp).
    const bool ok = std::fwrite(line.data(), 1, line.size(), f) == line.size() &&
                    std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
    const bool closed = std::fclose(f) == 0;
    CBNN_CHECK(ok && closed, "cannot append to ", metrics_path().string());
    epochs_.push_back(record);
}

void RunWriter::write_eval(const EvalResult& result, int64_t epoch) {
    std::vector<std::string> names = class_names_;
    if (names.empty()) {
        for (size_t c = 0; c < result.per_class_accuracy.size(); ++c)
            names.push_back(std::to_string(c));
    }
    nlohmann::json j = {{"epoch", epoch}};
    j.update(eval_result_json(result, names, false));
    write_file_atomic(eval_path().string(), json_text(j) + "\n", "eval.json");
}

void RunWriter::write_report(const EvalResult* last_eval, const std::string& title) {
    ReportInput input;
    if (!title.empty()) input.title = title;
    input.settings = settings_;
    input.epochs = epochs_;
    input.last_eval = last_eval;
    input.class_names = class_names_;
    write_file_atomic(report_path().string(), render_report_html(input), "report.html");
}

std::string format_duration(double seconds) {
    const auto total = static_cast<int64_t>(std::llround(std::max(0.0, seconds)));
    char buf[48];
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(total / 3600),
                  static_cast<long long>(total / 60 % 60), static_cast<long long>(total % 60));
    return buf;
}

std::string format_thousands(double value) {
    if (!std::isfinite(value)) return std::isnan(value) ? "nan" : (value > 0 ? "inf" : "-inf");
    const long long v = std::llround(value);
    const std::string digits = std::to_string(v < 0 ? -v : v);
    std::string out = v < 0 ? "-" : "";
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

std::string format_progress(int64_t epoch, int64_t epochs, int64_t batch, int64_t batches,
                            double loss, double images_per_second, double eta_seconds) {
    char loss_text[32];
    if (std::isfinite(loss)) {
        std::snprintf(loss_text, sizeof loss_text, "%.4f", loss);
    } else {
        std::snprintf(loss_text, sizeof loss_text, "%s",
                      std::isnan(loss) ? "nan" : (loss > 0 ? "inf" : "-inf"));
    }
    std::ostringstream os;
    os << "epoch " << epoch << "/" << epochs << "  batch " << batch << "/" << batches << "  loss "
       << loss_text << "  " << format_thousands(images_per_second) << " img/s  ETA "
       << (std::isfinite(eta_seconds) && eta_seconds >= 0 ? format_duration(eta_seconds)
                                                          : std::string("--:--:--"));
    return os.str();
}

}  // namespace cbnn::train

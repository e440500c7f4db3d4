#include "train/eval_checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include "data/cifar.h"
#include "losses/cb_loss.h"
#include "models/resnet_cifar.h"
#include "tensor/backend.h"
#include "tensor/error.h"
#include "tensor/file_io.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "train/sgd.h"
#include "train/train_loop.h"
#include "train/trainer.h"

namespace cbnn::train {
namespace {

struct Input {
    const CheckpointEvalOptions& options;
    const std::vector<uint8_t>& bytes;
    const nlohmann::json& meta;
    const nlohmann::json& config;  // meta["config"]
    Device device;
};

using DatasetEvaluator = CheckpointEval (*)(const Input& in);

std::string prefix_of(const std::string& checkpoint) { return "checkpoint '" + checkpoint + "': "; }

// config[key] as T; a missing field or one of the wrong type names the field.
template <class T>
T config_field(const Input& in, const char* key) {
    const auto it = in.config.find(key);
    if (it == in.config.end())
        CBNN_FAIL(prefix_of(in.options.checkpoint), "the run config has no '", key, "' field");
    try {
        return it->get<T>();
    } catch (const nlohmann::json::exception&) {
        CBNN_FAIL(prefix_of(in.options.checkpoint), "the run config's '", key,
                  "' has an unexpected type: ", it->dump());
    }
}

// config[key] as a string when the run recorded it, else `fallback` (runs older than the setting).
std::string config_setting(const Input& in, const char* key, const std::string& fallback) {
    return in.config.contains(key) ? config_field<std::string>(in, key) : fallback;
}

// The folder the test split is read from: --data, else the run's own; it must exist.
std::string data_folder(const Input& in, const std::string& recorded) {
    const bool given = !in.options.data_dir.empty();
    const std::string dir = given ? in.options.data_dir : recorded;
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
        CBNN_FAIL("data folder '", dir, "' ",
                  given ? "(--data)" : "(recorded in the checkpoint's config; give --data)",
                  " does not exist or is not a folder");
    return dir;
}

// Weights and batch-norm statistics into `model`, after every check (checkpoint.h); the momentum
// buffers go into a throw-away optimiser.
void load_weights(const Input& in, Module& model, const std::string& description) {
    Sgd unused(model.named_parameters(), SgdOptions{});
    try {
        deserialize_checkpoint(in.bytes, model, unused, in.options.checkpoint);
    } catch (const Error& e) {
        CBNN_FAIL(prefix_of(in.options.checkpoint),
                  "its weights do not match the model its config describes (", description,
                  "): ", e.what());
    }
}

// Training images per class: the meta's "train_counts", else `rebuild()`.
template <class Rebuild>
std::vector<int64_t> train_counts(const Input& in, int64_t classes, CheckpointEval& out,
                                  Rebuild rebuild) {
    std::vector<int64_t> counts;
    const auto it = in.meta.find("train_counts");
    if (it != in.meta.end()) {
        try {
            counts = it->get<std::vector<int64_t>>();
        } catch (const nlohmann::json::exception&) {
            CBNN_FAIL(prefix_of(in.options.checkpoint),
                      "'train_counts' is not a list of integers: ", it->dump());
        }
        out.train_counts_source = "checkpoint";
    } else {
        counts = rebuild();
        out.train_counts_source = "rebuilt from the training split";
    }
    if (static_cast<int64_t>(counts.size()) != classes)
        CBNN_FAIL(prefix_of(in.options.checkpoint), "'train_counts' has ", counts.size(),
                  " entries for ", classes, " classes");
    return counts;
}

CheckpointEval evaluate_cifar(const Input& in) {
    TrainConfig c;
    c.dataset = config_field<std::string>(in, "dataset");
    c.data_dir = config_field<std::string>(in, "data_dir");
    c.loss = config_field<std::string>(in, "loss");
    c.beta = config_field<double>(in, "beta");
    c.gamma = config_field<double>(in, "gamma");
    c.batch_size = config_field<int64_t>(in, "batch_size");
    c.seed = config_field<uint64_t>(in, "seed");
    c.depth = config_field<int64_t>(in, "depth");
    check_cifar_depth(c.depth);  // a crafted checkpoint must not build a billion blocks
    c.imbalance = config_field<double>(in, "imbalance");
    c.subset_list = config_field<std::string>(in, "subset_list");
    // How the run computed its evaluations: the same kernels, TF32 and (--eval-precision train)
    // input dtype and layout here.
    c.precision = config_setting(in, "precision", c.precision);
    c.layout = config_setting(in, "layout", c.layout);
    c.eval_precision = config_setting(in, "eval_precision", c.eval_precision);
    c.conv_search = config_setting(in, "conv_search", c.conv_search);
    c.conv_algos = config_setting(in, "conv_algos", c.conv_algos);
    c.conv_kernels = config_setting(in, "conv_kernels", c.conv_kernels);
    c.bn_kernels = config_setting(in, "bn_kernels", c.bn_kernels);
    const LoopSettings run = loop_settings(c, 0, {});
    const RunKernelSettings kernels(run);
    const int classes = static_cast<int>(c.num_classes());
    const LossConfig loss{parse_loss_type(c.loss), c.beta, c.gamma};

    CheckpointEval out;
    out.data_dir = data_folder(in, c.data_dir);
    out.batch_size = in.options.batch_size.value_or(eval_batch_size(in.device, c.batch_size));

    Generator init(c.seed);
    ResNetCifar model(cifar_model_options(c), init);
    out.model = model.type_name();
    load_weights(in, model,
                 out.model + ", " + std::to_string(classes) + " classes, " + c.loss + " head");
    model.to(in.device);

    const CifarLoad test = load_cifar(out.data_dir, false, classes);
    out.data_description = test.description;
    out.class_names = test.dataset.class_names;
    const std::vector<int64_t> counts = train_counts(in, classes, out, [&] {
        return cifar_training_set(c, load_cifar(out.data_dir, true, classes).dataset)
            .class_counts();
    });
    const ClassBalancedLoss criterion(loss, counts, DType::f32, in.device);
    out.result = TestSet(test.dataset, {out.batch_size, c.seed, in.device})
                     .evaluate(model, counts, &criterion, evaluation_input(run));
    return out;
}

// Datasets with an evaluator: CIFAR now; ImageNet / iNaturalist checkpoints get an entry here
// once their trainers write checkpoints.
const std::map<std::string, DatasetEvaluator>& evaluators() {
    static const std::map<std::string, DatasetEvaluator> table = {{"cifar10", evaluate_cifar},
                                                                  {"cifar100", evaluate_cifar}};
    return table;
}

std::string joined(const std::vector<std::string>& names) {
    std::string out;
    for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
}

std::string fixed(double value, int digits) {
    if (!std::isfinite(value)) return "n/a";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, value);
    return buf;
}

std::string error_line(const char* what, double error) {
    return std::string(what) + fixed(error, 4) +
           (std::isfinite(error) ? " (" + fixed(100.0 * error, 2) + "%)" : "") + "\n";
}

}  // namespace

std::vector<std::string> checkpoint_eval_datasets() {
    std::vector<std::string> names;
    for (const auto& entry : evaluators()) names.push_back(entry.first);
    return names;
}

CheckpointEval evaluate_checkpoint(const CheckpointEvalOptions& options) {
    CBNN_CHECK(!options.batch_size || *options.batch_size >= 1, "batch size ",
               options.batch_size.value_or(0), ": must be >= 1");
    const Device device = Device::parse(options.device);
    if (device.is_cuda()) require_cuda("--device " + options.device);

    const std::vector<uint8_t> bytes = read_file_bytes(options.checkpoint, "load_checkpoint");
    const nlohmann::json meta = checkpoint_meta(bytes, options.checkpoint);
    const auto config = meta.find("config");
    if (config == meta.end() || !config->is_object())
        CBNN_FAIL(prefix_of(options.checkpoint), "its meta holds no run config");
    const auto dataset = config->find("dataset");
    if (dataset == config->end() || !dataset->is_string())
        CBNN_FAIL(prefix_of(options.checkpoint), "the run config names no dataset");
    const std::string name = dataset->get<std::string>();
    const auto evaluator = evaluators().find(name);
    if (evaluator == evaluators().end())
        CBNN_FAIL(prefix_of(options.checkpoint), "dataset '", name,
                  "' has no evaluator in cbnn-eval (supported: ",
                  joined(checkpoint_eval_datasets()), ")");

    CheckpointEval out = evaluator->second(Input{options, bytes, meta, *config, device});
    out.checkpoint = options.checkpoint;
    out.meta = meta;
    out.dataset = name;
    out.device = device.str();
    return out;
}

nlohmann::json checkpoint_eval_json(const CheckpointEval& e, bool with_confusion) {
    nlohmann::json j = {{"checkpoint", e.checkpoint},
                        {"dataset", e.dataset},
                        {"model", e.model},
                        {"epoch", e.meta.value("epoch", nlohmann::json())},
                        {"step", e.meta.value("step", nlohmann::json())},
                        {"data_dir", e.data_dir},
                        {"device", e.device},
                        {"batch_size", e.batch_size},
                        {"train_counts_source", e.train_counts_source}};
    j.update(eval_result_json(e.result, e.class_names, with_confusion));
    return j;
}

std::string checkpoint_eval_text(const CheckpointEval& e, bool with_confusion) {
    const EvalResult& r = e.result;
    std::ostringstream s;
    s << "checkpoint " << e.checkpoint << ": " << e.dataset << ", " << e.model << ", epoch "
      << e.meta.value("epoch", nlohmann::json()).dump() << "\n";
    s << "data: " << e.data_description << "; device " << e.device << ", batch size "
      << e.batch_size << "; training counts: " << e.train_counts_source << "\n";
    s << error_line("top-1 error ", r.top1_error)
      << (has_top5(r.num_classes) ? error_line("top-5 error ", r.top5_error)
                                  : std::string("top-5 error ") + kTop5NotApplicable + "\n");
    s << "test loss " << fixed(r.mean_loss, 4) << ", balanced accuracy "
      << fixed(r.balanced_accuracy, 4) << "\n";
    s << "shot groups (training images per class: many > 100, medium 20-100, few < 20):\n";
    for (ShotGroup g : {ShotGroup::many, ShotGroup::medium, ShotGroup::few}) {
        const GroupAccuracy& a = r.group(g);
        char line[128];
        std::snprintf(line, sizeof line, "  %-7s accuracy %s  (%lld classes, %lld test images)\n",
                      shot_group_name(g), fixed(a.accuracy, 4).c_str(),
                      static_cast<long long>(a.classes), static_cast<long long>(a.samples));
        s << line;
    }
    size_t width = 5;
    for (const std::string& n : e.class_names) width = std::max(width, n.size());
    const int w = static_cast<int>(width);
    char line[256];
    std::snprintf(line, sizeof line, "per class:\n  %-*s  %8s  %6s  %8s\n", w, "class", "train",
                  "test", "accuracy");
    s << line;
    for (int64_t c = 0; c < r.num_classes; ++c) {
        const std::string train =
            r.train_counts.empty() ? "n/a" : std::to_string(r.train_counts[c]);
        std::snprintf(line, sizeof line, "  %-*s  %8s  %6lld  %8s\n", w, e.class_names[c].c_str(),
                      train.c_str(), static_cast<long long>(r.per_class_samples[c]),
                      fixed(r.per_class_accuracy[c], 4).c_str());
        s << line;
    }
    if (with_confusion) {
        s << "confusion matrix (rows: true class, columns: predicted class, in class order):\n";
        int64_t largest = 0;
        for (int64_t v : r.confusion) largest = std::max(largest, v);
        const int cell = static_cast<int>(std::to_string(largest).size());
        for (int64_t t = 0; t < r.num_classes; ++t) {
            std::snprintf(line, sizeof line, "  %-*s", w, e.class_names[t].c_str());
            s << line;
            for (int64_t p = 0; p < r.num_classes; ++p) {
                std::snprintf(line, sizeof line, " %*lld", cell,
                              static_cast<long long>(r.confusion_at(t, p)));
                s << line;
            }
            s << "\n";
        }
    }
    return s.str();
}

}  // namespace cbnn::train

#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <memory>

#include "data/cifar.h"
#include "data/gpu_loader.h"
#include "data/loader.h"
#include "data/long_tail.h"
#include "losses/cb_loss.h"
#include "models/resnet_cifar.h"
#include "tensor/backend.h"
#include "tensor/error.h"
#include "train/evaluate.h"
#include "train/lr_schedule.h"
#include "train/sgd.h"

namespace cbnn::train {

namespace {

// PAPER.md 3.3: LR = 0.1 * batch / 128.
constexpr double kLrReferenceBatch = 128.0;

// The fields a resumed run may change; every other field must equal the checkpoint's. The data
// and the list may move (paths), but the resume checks that the training set's class counts are
// the checkpoint's.
const char* const kResumeMayChange[] = {
    "epochs",           "eval_every",    "checkpoint_every", "threads",    "resume",
    "progress_every",   "conv_search",   "bn_kernels",       "cuda_graph", "layout",
    "grad_check_every", "data_dir",      "subset_list",      "out_dir",    "conv_algos",
    "conv_kernels",     "eval_precision"};

}  // namespace

Dataset cifar_training_set(const TrainConfig& c, const Dataset& full) {
    if (!c.subset_list.empty()) {
        const auto list = read_subset_list(c.subset_list);
        return full.subset(
            subset_indices(image_names(full.files, full.size()), list, c.subset_list));
    }
    if (c.imbalance == 1.0) return full;
    return full.subset(select_long_tail(full.labels, full.num_classes(), c.imbalance, c.seed));
}

ResNetCifarOptions cifar_model_options(const TrainConfig& c) {
    ResNetCifarOptions o;
    o.depth = c.depth;
    o.num_classes = c.num_classes();
    o.head_init = head_init_for(parse_loss_type(c.loss));
    return o;
}

void check_cifar_depth(int64_t depth) {
    CBNN_CHECK(depth >= 8 && depth <= 1202 && (depth - 2) % 6 == 0, "depth ", depth,
               ": must be 6n + 2 from 8 to 1202 (8, 20, 32, ..., 1202: the deepest CIFAR ResNet "
               "of He et al. 2016)");
}

void TrainConfig::validate() const {
    CBNN_CHECK(dataset == "cifar10" || dataset == "cifar100", "dataset '", dataset,
               "': expected cifar10 or cifar100");
    check_cifar_depth(depth);
    CBNN_CHECK(std::isfinite(imbalance) && imbalance >= 1, "imbalance ", imbalance,
               ": must be >= 1");
    CBNN_CHECK(subset_list.empty() || imbalance == 1.0,
               "give either a subset list or an imbalance factor, not both");
    validate_common(*this, kLrReferenceBatch);
}

nlohmann::json TrainConfig::to_json() const {
    nlohmann::json j = common_config_json(*this);
    j["dataset"] = dataset;
    j["imbalance"] = imbalance;
    j["subset_list"] = subset_list;
    return j;
}

std::string checkpoint_path(const TrainConfig& config) {
    return run_checkpoint_path(config.out_dir);
}

TrainResult train_cifar(const TrainConfig& c, std::ostream& log) {
    c.validate();
    const Device device = Device::parse(c.device);
    if (device.is_cuda()) require_cuda("train_cifar --device " + c.device);
    const int classes = static_cast<int>(c.num_classes());

    // Decoding the images is part of a whole run's wall time, outside the loop's `time:` line.
    const auto read_start = std::chrono::steady_clock::now();
    const CifarLoad train_load = load_cifar(c.data_dir, true, classes);
    const Dataset train = cifar_training_set(c, train_load.dataset);
    const Dataset test = load_cifar(c.data_dir, false, classes).dataset;
    const std::vector<int64_t> counts = train.class_counts();
    const std::chrono::duration<double> read_time = std::chrono::steady_clock::now() - read_start;
    char read_seconds[32];
    std::snprintf(read_seconds, sizeof read_seconds, "%.1f", read_time.count());
    log << "data: " << train_load.description << "; training on " << train.size()
        << " images, testing on " << test.size() << " (read in " << read_seconds << " s)\n";
    check_every_class_trained(counts, train.class_names);
    check_batch_fits(c.batch_size, train.size());

    const LossConfig loss_config{parse_loss_type(c.loss), c.beta, c.gamma};
    const ResNetCifarOptions model_options = cifar_model_options(c);
    Generator init(c.seed);
    ResNetCifar model(model_options, init);
    model.to(device);
    model.train();
    const ClassBalancedLoss criterion(loss_config, counts, DType::f32, device);

    SgdOptions sgd_options;
    sgd_options.momentum = 0.9;
    sgd_options.weight_decay = c.weight_decay;
    if (loss_config.type != LossType::softmax) sgd_options.no_decay_names = {"fc.bias"};
    Sgd sgd(model.named_parameters(), sgd_options);
    const LrSchedule schedule = schedule_of(c, kLrReferenceBatch);

    LoaderOptions loader_options;
    loader_options.batch_size = c.batch_size;
    loader_options.seed = c.seed;
    loader_options.num_threads = device.is_cuda() ? 0 : c.threads;
    loader_options.device = device;
    loader_options.batching = parse_batching(c.batching);
    // The GPU-resident loader on CUDA (same batches as the CPU loader, data/gpu_loader.h).
    std::unique_ptr<Loader> cpu_loader;
    std::unique_ptr<GpuCifarLoader> gpu_loader;
    if (device.is_cuda())
        gpu_loader = std::make_unique<GpuCifarLoader>(train, loader_options);
    else
        cpu_loader = std::make_unique<Loader>(train, loader_options);
    BatchSource source = gpu_loader ? batch_source(*gpu_loader) : batch_source(*cpu_loader);
    LoopSettings settings =
        loop_settings(c, train.size(), {std::begin(kResumeMayChange), std::end(kResumeMayChange)});
    settings.train_counts = counts;
    settings.class_names = train.class_names;
    // Prepared once: on CUDA the test images stay on the GPU for the run (train/evaluate.h).
    TestSet test_set(test, {eval_batch_size(device, c.batch_size), c.seed, device});
    const EvalInput eval_input = evaluation_input(settings);
    TrainResult result = run_training(
        model, criterion, sgd, schedule, source,
        [&] { return test_set.evaluate(model, counts, &criterion, eval_input); }, settings, log);
    result.train_counts = counts;
    return result;
}

}  // namespace cbnn::train

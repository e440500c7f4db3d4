// The ImageNet / iNaturalist trainer (protocol in train/image_trainer.h, loop in train_loop.h).
#include "train/image_trainer.h"

#include <cmath>
#include <filesystem>
#include <iterator>

#include "data/image_folder.h"
#include "data/inat.h"
#include "data/lazy_loader.h"
#include "losses/cb_loss.h"
#include "models/resnet.h"
#include "tensor/backend.h"
#include "tensor/error.h"
#include "train/evaluate.h"
#include "train/lr_schedule.h"
#include "train/sgd.h"

namespace cbnn::train {

namespace {

// PAPER.md 3.5: LR = flag * batch / 256.
constexpr double kLrReferenceBatch = 256.0;

const char* const kResumeMayChange[] = {
    "epochs",         "eval_every",       "checkpoint_every", "threads",    "resume",
    "progress_every", "grad_check_every", "data_dir",         "out_dir",    "train_json",
    "val_json",       "conv_search",      "bn_kernels",       "cuda_graph", "layout",
    "conv_algos",     "conv_kernels",     "eval_precision"};

struct ImageSets {
    ImageList train, val;
    std::string description;
};

ImageSets read_sets(const ImageTrainConfig& c) {
    ImageSets sets;
    if (c.dataset == ImageDataset::inat) {
        // With skip_bad_images the lazy loader's header check drops missing files instead.
        const bool check_files = !c.skip_bad_images;
        sets = {read_inat(c.train_json, c.data_dir, check_files),
                read_inat(c.val_json, c.data_dir, check_files),
                "iNaturalist " + c.train_json + " / " + c.val_json + " under " + c.data_dir};
    } else {
        const std::filesystem::path root(c.data_dir);
        sets = {list_image_folder((root / "train").string()),
                list_image_folder((root / "val").string()), "image folder " + c.data_dir};
    }
    // Labels are positions in the class list: the two lists must agree or labels would mix.
    CBNN_CHECK(sets.train.class_names == sets.val.class_names, sets.description,
               ": the training set has ", sets.train.class_names.size(),
               " classes and the validation set ", sets.val.class_names.size(),
               "; they must list the same classes");
    return sets;
}

LazyLoaderOptions loader_options(const ImageTrainConfig& c, bool train, Device device) {
    LazyLoaderOptions o;
    o.loader.batch_size = c.batch_size;
    o.loader.shuffle = train;
    o.loader.train = train;
    o.loader.seed = c.seed;
    o.loader.num_threads = c.threads;
    o.loader.device = device;
    if (train) o.loader.batching = parse_batching(c.batching);  // evaluation: one pass
    o.augment = c.dataset == ImageDataset::inat ? ImageNetAugmentOptions::inaturalist()
                                                : ImageNetAugmentOptions{};
    o.augment.size = c.image_size;
    o.skip_bad_images = c.skip_bad_images;
    return o;
}

}  // namespace

const char* image_dataset_name(ImageDataset dataset) {
    return dataset == ImageDataset::inat ? "inat" : "imagenet";
}

ImageTrainConfig ImageTrainConfig::paper(ImageDataset dataset) {
    ImageTrainConfig c;
    c.dataset = dataset;
    c.epochs = 90;
    c.batch_size = 1024;
    c.lr = dataset == ImageDataset::inat ? 0.4 : 0.2;
    c.weight_decay = 1e-4;
    c.warmup_epochs = 5;
    c.lr_steps = {30, 60, 80};
    c.lr_factors = {0.1, 0.01, 0.001};
    c.nesterov = true;
    c.depth = 50;
    c.image_size = 224;
    c.zero_init_residual = true;
    return c;
}

void ImageTrainConfig::validate() const {
    CBNN_CHECK(depth == 50 || depth == 101 || depth == 152, "depth ", depth,
               ": must be 50, 101 or 152");
    CBNN_CHECK(image_size >= 32 && image_size <= 1024, "image size ", image_size,
               ": must be in 32..1024");
    if (dataset == ImageDataset::inat)
        CBNN_CHECK(!train_json.empty() && !val_json.empty(),
                   "iNaturalist needs a training and a validation annotation file");
    validate_common(*this, kLrReferenceBatch);
}

nlohmann::json ImageTrainConfig::to_json() const {
    nlohmann::json j = common_config_json(*this);
    j["dataset"] = image_dataset_name(dataset);
    j["train_json"] = train_json;
    j["val_json"] = val_json;
    j["nesterov"] = nesterov;
    j["image_size"] = image_size;
    j["zero_init_residual"] = zero_init_residual;
    j["skip_bad_images"] = skip_bad_images;
    return j;
}

TrainResult train_images(const ImageTrainConfig& c, std::ostream& log) {
    c.validate();
    const Device device = Device::parse(c.device);
    if (device.is_cuda()) require_cuda("train_images --device " + c.device);

    const ImageSets sets = read_sets(c);
    check_batch_fits(c.batch_size, sets.train.size());
    LazyImageLoader train(sets.train, loader_options(c, true, device));
    check_batch_fits(c.batch_size, train.size());  // again, after --skip-bad-images
    LazyImageLoader val(sets.val, loader_options(c, false, device));
    const std::vector<int64_t> counts = train.list().class_counts();
    check_every_class_trained(counts, sets.train.class_names);
    const auto classes = static_cast<int64_t>(sets.train.class_names.size());
    log << "data: " << sets.description << "; training on " << train.size() << " images of "
        << classes << " classes, testing on " << val.size() << "\n";

    const LossConfig loss_config{parse_loss_type(c.loss), c.beta, c.gamma};
    ResNetOptions model_options;
    model_options.depth = c.depth;
    model_options.num_classes = classes;
    model_options.head_init = head_init_for(loss_config.type);
    model_options.zero_init_last_bn = c.zero_init_residual;
    Generator init(c.seed);
    ResNet model(model_options, init);
    model.to(device);
    model.train();
    const ClassBalancedLoss criterion(loss_config, counts, DType::f32, device);

    SgdOptions sgd_options;
    sgd_options.momentum = 0.9;
    sgd_options.nesterov = c.nesterov;
    sgd_options.weight_decay = c.weight_decay;
    sgd_options.no_decay_names = batchnorm_parameter_names(model);
    sgd_options.no_decay_names.push_back("fc.bias");
    Sgd sgd(model.named_parameters(), sgd_options);
    const LrSchedule schedule = schedule_of(c, kLrReferenceBatch);

    BatchSource source = batch_source(train);
    LoopSettings settings =
        loop_settings(c, train.size(), {std::begin(kResumeMayChange), std::end(kResumeMayChange)});
    settings.train_counts = counts;
    settings.class_names = sets.train.class_names;
    const EvalInput eval_input = evaluation_input(settings);
    auto evaluate = [&] {
        val.set_state({0, 0});
        return evaluate_batches(
            model, val.batches_per_epoch(), [&] { return val.next(); }, classes, counts, &criterion,
            eval_input);
    };
    TrainResult result =
        run_training(model, criterion, sgd, schedule, source, evaluate, settings, log);
    result.train_counts = counts;
    return result;
}

}  // namespace cbnn::train

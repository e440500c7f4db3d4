#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>

#include "autograd/functions.h"
#include "autograd/grad_mode.h"
#include "data/cifar.h"
#include "data/gpu_loader.h"
#include "data/loader.h"
#include "data/long_tail.h"
#include "losses/cb_loss.h"
#include "models/resnet_cifar.h"
#include "tensor/backend.h"
#include "tensor/error.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "train/guard.h"
#include "train/lr_schedule.h"
#include "train/report.h"
#include "train/sgd.h"

namespace cbnn::train {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The fields a resumed run may change; every other field must equal the checkpoint's.
const char* const kResumeMayChange[] = {"epochs",           "eval_every", "checkpoint_every",
                                        "threads",          "resume",     "progress_every",
                                        "grad_check_every", "data_dir",   "out_dir"};

// CPU Loader or GPU-resident GpuCifarLoader behind one interface.
class TrainLoader {
  public:
    TrainLoader(const Dataset& dataset, const LoaderOptions& options, bool gpu) {
        if (gpu)
            gpu_ = std::make_unique<GpuCifarLoader>(dataset, options);
        else
            cpu_ = std::make_unique<Loader>(dataset, options);
    }
    Batch next() { return gpu_ ? gpu_->next() : cpu_->next(); }
    int64_t batches_per_epoch() const {
        return gpu_ ? gpu_->batches_per_epoch() : cpu_->batches_per_epoch();
    }
    LoaderState state() const { return gpu_ ? gpu_->state() : cpu_->state(); }
    void set_state(LoaderState s) { gpu_ ? gpu_->set_state(s) : cpu_->set_state(s); }

  private:
    std::unique_ptr<Loader> cpu_;
    std::unique_ptr<GpuCifarLoader> gpu_;
};

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

namespace {

nlohmann::json resume_key(const nlohmann::json& config) {
    nlohmann::json key = config;
    for (const char* field : kResumeMayChange) key.erase(field);
    return key;
}

}  // namespace

void TrainConfig::validate() const {
    CBNN_CHECK(dataset == "cifar10" || dataset == "cifar100", "dataset '", dataset,
               "': expected cifar10 or cifar100");
    CBNN_CHECK(!data_dir.empty(), "no data folder given");
    CBNN_CHECK(!out_dir.empty(), "no output folder given");
    LossConfig{parse_loss_type(loss), beta, gamma}.validate();
    CBNN_CHECK(epochs >= 1, "epochs ", epochs, ": must be >= 1");
    CBNN_CHECK(batch_size >= 1, "batch size ", batch_size, ": must be >= 1");
    CBNN_CHECK(std::isfinite(lr) && lr > 0, "lr ", lr, ": must be > 0");
    CBNN_CHECK(std::isfinite(weight_decay) && weight_decay >= 0, "weight decay ", weight_decay,
               ": must be >= 0");
    CBNN_CHECK(depth >= 8 && (depth - 2) % 6 == 0, "depth ", depth,
               ": must be 6n + 2 (8, 20, 32, ...)");
    CBNN_CHECK(std::isfinite(imbalance) && imbalance >= 1, "imbalance ", imbalance,
               ": must be >= 1");
    CBNN_CHECK(subset_list.empty() || imbalance == 1.0,
               "give either a subset list or an imbalance factor, not both");
    CBNN_CHECK(eval_every >= 1, "eval-every ", eval_every, ": must be >= 1");
    CBNN_CHECK(checkpoint_every >= 1, "checkpoint-every ", checkpoint_every, ": must be >= 1");
    CBNN_CHECK(grad_check_every >= 1, "grad-check-every ", grad_check_every, ": must be >= 1");
    CBNN_CHECK(progress_every >= 1, "progress-every ", progress_every, ": must be >= 1");
    CBNN_CHECK(threads >= 0 && threads <= 256, "threads ", threads, ": must be in 0..256");
    CBNN_CHECK(lr_steps.size() == lr_factors.size(), "lr-steps has ", lr_steps.size(),
               " values, lr-factors ", lr_factors.size(), ": they must pair up");
    LrSchedule::multistep(lr * static_cast<double>(batch_size) / 128.0, warmup_epochs, lr_steps,
                          lr_factors);
    Device::parse(device);
}

nlohmann::json TrainConfig::to_json() const {
    return {{"data_dir", data_dir},
            {"dataset", dataset},
            {"out_dir", out_dir},
            {"loss", loss},
            {"beta", beta},
            {"gamma", gamma},
            {"epochs", epochs},
            {"batch_size", batch_size},
            {"lr", lr},
            {"weight_decay", weight_decay},
            {"warmup_epochs", warmup_epochs},
            {"lr_steps", lr_steps},
            {"lr_factors", lr_factors},
            {"seed", seed},
            {"device", device},
            {"depth", depth},
            {"imbalance", imbalance},
            {"subset_list", subset_list},
            {"eval_every", eval_every},
            {"checkpoint_every", checkpoint_every},
            {"grad_check_every", grad_check_every},
            {"progress_every", progress_every},
            {"resume", resume},
            {"threads", threads}};
}

std::string checkpoint_path(const TrainConfig& config) {
    return (std::filesystem::path(config.out_dir) / "checkpoint.bin").string();
}

TrainResult train_cifar(const TrainConfig& c, std::ostream& log) {
    c.validate();
    const Device device = Device::parse(c.device);
    if (device.is_cuda()) require_cuda("train_cifar --device " + c.device);
    const int classes = static_cast<int>(c.num_classes());

    const CifarLoad train_load = load_cifar(c.data_dir, true, classes);
    const Dataset train = cifar_training_set(c, train_load.dataset);
    const Dataset test = load_cifar(c.data_dir, false, classes).dataset;
    const std::vector<int64_t> counts = train.class_counts();
    log << "data: " << train_load.description << "; training on " << train.size()
        << " images, testing on " << test.size() << "\n";

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
    const LrSchedule schedule =
        LrSchedule::multistep(c.lr * static_cast<double>(c.batch_size) / 128.0, c.warmup_epochs,
                              c.lr_steps, c.lr_factors);

    LoaderOptions loader_options;
    loader_options.batch_size = c.batch_size;
    loader_options.seed = c.seed;
    loader_options.num_threads = device.is_cuda() ? 0 : c.threads;
    loader_options.device = device;
    TrainLoader loader(train, loader_options, device.is_cuda());
    const int64_t batches = loader.batches_per_epoch();

    TrainResult result;
    result.train_counts = counts;
    int64_t start_epoch = 0, step = 0;
    const std::string ckpt = checkpoint_path(c);
    if (c.resume) {
        const nlohmann::json meta = load_checkpoint(ckpt, model, sgd);
        if (resume_key(meta.at("config")) != resume_key(c.to_json()))
            CBNN_FAIL("--resume: the configuration differs from the checkpoint's (",
                      meta.at("config").dump(), ") in a field that must stay the same");
        start_epoch = meta.at("epoch").get<int64_t>();
        step = meta.at("step").get<int64_t>();
        loader.set_state({meta.at("loader").at("epoch").get<int64_t>(),
                          meta.at("loader").at("batch").get<int64_t>()});
        log << "resumed from " << ckpt << " after epoch " << start_epoch << " (step " << step
            << ")\n";
        CBNN_CHECK(start_epoch < c.epochs, "--resume: the checkpoint already covers ", start_epoch,
                   " epochs, --epochs is ", c.epochs);
    }
    RunWriter run(c.out_dir, c.resume, start_epoch);
    run.write_config(c.to_json());
    result.epochs_done = start_epoch;
    result.final_test_error = kNaN;

    const NamedTensors params = model.named_parameters();
    EvalResult last_eval;
    bool have_eval = false;
    const auto run_start = std::chrono::steady_clock::now();
    int64_t images_this_run = 0;
    try {
        for (int64_t epoch = start_epoch; epoch < c.epochs; ++epoch) {
            const auto epoch_start = std::chrono::steady_clock::now();
            Tensor loss_sum = Tensor::zeros({}, DType::f32, device);
            Tensor hits = Tensor::zeros({}, DType::f32, device);
            int64_t seen = 0;
            double lr = 0.0;
            for (int64_t b = 0; b < batches; ++b, ++step) {
                const Batch batch = loader.next();
                lr = schedule.lr(fractional_epoch(step, c.batch_size, train.size()));
                sgd.zero_grad();
                const Tensor logits = model.forward(batch.images);
                const Tensor loss = criterion(logits, batch.labels);
                loss.backward();
                // Also at each epoch's last step, so a non-finite update never reaches a
                // checkpoint.
                if ((step + 1) % c.grad_check_every == 0 || b + 1 == batches)
                    check_gradients(params, step);
                sgd.step(lr);
                {
                    NoGradGuard no_grad;
                    loss_sum = loss_sum + loss.detach() * static_cast<double>(batch.labels.size(0));
                    hits = hits + sum(eq(argmax(logits.detach(), 1), batch.labels).to(DType::f32));
                }
                seen += batch.labels.size(0);
                images_this_run += batch.labels.size(0);
                if ((b + 1) % c.progress_every == 0 || b + 1 == batches) {
                    const double mean = loss_sum.cpu().item<float>() / static_cast<double>(seen);
                    check_loss(mean, step);
                    const double elapsed =
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start)
                            .count();
                    const double rate = static_cast<double>(images_this_run) / elapsed;
                    const double remaining =
                        static_cast<double>((c.epochs - epoch) * batches - b - 1) *
                        static_cast<double>(c.batch_size);
                    log << format_progress(epoch + 1, c.epochs, b + 1, batches, mean, rate,
                                           remaining / rate)
                        << "\n";
                }
            }
            EpochRecord record;
            record.epoch = epoch + 1;
            record.loss = loss_sum.cpu().item<float>() / static_cast<double>(seen);
            record.train_error =
                1.0 - static_cast<double>(hits.cpu().item<float>()) / static_cast<double>(seen);
            record.lr = lr;
            result.epoch_losses.push_back(record.loss);
            if ((epoch + 1) % c.eval_every == 0 || epoch + 1 == c.epochs) {
                last_eval =
                    evaluate(model, test, counts, {c.batch_size, c.seed, device}, &criterion);
                have_eval = true;
                record.test_error = last_eval.top1_error;
                record.top5 = last_eval.top5_error;
                record.many = last_eval.many.accuracy;
                record.medium = last_eval.medium.accuracy;
                record.few = last_eval.few.accuracy;
                result.final_test_error = last_eval.top1_error;
                log << "epoch " << epoch + 1 << ": test error " << last_eval.top1_error
                    << ", training loss " << record.loss << "\n";
            }
            record.seconds =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start)
                    .count();
            record.images_per_second = static_cast<double>(seen) / record.seconds;
            run.append_epoch(record);
            run.write_report(have_eval ? &last_eval : nullptr);
            result.epochs_done = epoch + 1;
            result.steps_done = step;
            if ((epoch + 1) % c.checkpoint_every == 0 || epoch + 1 == c.epochs) {
                const LoaderState ls = loader.state();
                const nlohmann::json meta = {
                    {"epoch", epoch + 1},
                    {"step", step},
                    {"seed", c.seed},
                    {"loader", {{"epoch", ls.epoch}, {"batch", ls.batch}}},
                    {"schedule",
                     {{"fractional_epoch", fractional_epoch(step, c.batch_size, train.size())},
                      {"lr", lr},
                      {"describe", schedule.describe()}}},
                    {"train_counts", counts},
                    {"config", c.to_json()}};
                save_checkpoint(ckpt, model, sgd, meta);
            }
        }
    } catch (const DivergenceError& e) {
        result.diverged = true;
        result.message = e.what();
        log << "training diverged: " << e.what() << "; the last good checkpoint ("
            << (std::filesystem::exists(ckpt) ? ckpt : std::string("none written yet"))
            << ") is kept\n";
        return result;
    }
    if (have_eval) result.final_eval = last_eval;
    return result;
}

}  // namespace cbnn::train

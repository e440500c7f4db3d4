#include "train/evaluate.h"

#include "autograd/grad_mode.h"
#include "data/augment.h"
#include "data/gpu_loader.h"
#include "data/loader.h"
#include "tensor/copy.h"
#include "tensor/error.h"
#include "train/report.h"

namespace cbnn::train {

namespace {

bool cifar_shaped(const Dataset& d) {
    return d.channels == kCifarChannels && d.height == kCifarSize && d.width == kCifarSize;
}

// The model in evaluation mode for its lifetime; the previous mode comes back afterwards, also
// when an evaluation throws.
class EvalMode {
  public:
    explicit EvalMode(Layer& model) : model_(model), was_training_(model.is_training()) {
        model_.eval();
    }
    ~EvalMode() { model_.train(was_training_); }
    EvalMode(const EvalMode&) = delete;
    EvalMode& operator=(const EvalMode&) = delete;

  private:
    Layer& model_;
    bool was_training_;
};

// The batches of an evaluation not yet scored: logits, labels and (with a criterion) the 0-d
// batch losses, on the model's device. score() brings each of the three to the host in one copy
// and adds the batches to the Evaluator in order, as if each had been added when it came.
class PendingBatches {
  public:
    void push(const Tensor& logits, const Tensor& labels, const Tensor& loss) {
        logits_.push_back(logits);
        labels_.push_back(labels);
        if (loss.defined()) losses_.push_back(loss);
        bytes_ += static_cast<int64_t>(logits.nbytes());
    }

    // On the CPU too: the packing costs a host copy of the logits, and the CPU tests check the
    // path CUDA takes.
    bool full() const { return bytes_ >= kEvalPendingBytes; }

    void score(Evaluator& evaluator) {
        if (logits_.empty()) return;
        const Tensor logits = rows_to_host(logits_);
        const Tensor labels = rows_to_host(labels_);
        std::vector<double> losses;
        if (!losses_.empty()) {
            std::vector<Tensor> rows;
            for (const Tensor& l : losses_) rows.push_back(l.reshape({1}));
            losses = rows_to_host(rows).to(DType::f64).to_vector<double>();
        }
        int64_t at = 0;
        for (size_t b = 0; b < logits_.size(); ++b) {
            const int64_t n = logits_[b].size(0);
            if (losses.empty())
                evaluator.add(logits.narrow(0, at, n), labels.narrow(0, at, n));
            else
                evaluator.add(logits.narrow(0, at, n), labels.narrow(0, at, n), losses[b]);
            at += n;
        }
        logits_.clear();
        labels_.clear();
        losses_.clear();
        bytes_ = 0;
    }

  private:
    // The parts (same device, dtype and trailing shape) stacked along dim 0, on the host: packed
    // on their device first, so one device-to-host copy (the only wait for the device).
    static Tensor rows_to_host(const std::vector<Tensor>& parts) {
        if (parts.size() == 1) return parts.front().cpu();
        Shape shape = parts.front().shape();
        shape[0] = 0;
        for (const Tensor& p : parts) shape[0] += p.size(0);
        const Tensor packed = Tensor::empty(shape, parts.front().dtype(), parts.front().device());
        int64_t at = 0;
        for (const Tensor& p : parts) {
            ops::copy_into(packed.narrow(0, at, p.size(0)), p);
            at += p.size(0);
        }
        return packed.cpu();
    }

    std::vector<Tensor> logits_, labels_, losses_;
    int64_t bytes_ = 0;
};

}  // namespace

int64_t eval_batch_size(Device device, int64_t training_batch_size) {
    return device.is_cuda() ? kCudaEvalBatch : training_batch_size;
}

TestSet::TestSet(const Dataset& test, const EvalOptions& options)
    : num_classes_(test.num_classes()) {
    CBNN_CHECK(options.batch_size >= 1, "evaluate: batch size ", options.batch_size,
               ": must be >= 1");
    LoaderOptions o;
    o.batch_size = options.batch_size;
    o.shuffle = false;
    o.train = false;
    o.seed = options.seed;
    o.num_threads = 0;
    o.device = options.device;
    if (options.device.is_cuda() && cifar_shaped(test))
        gpu_ = std::make_unique<GpuCifarLoader>(test, o);
    else
        loader_ = std::make_unique<Loader>(test, o);
}

TestSet::~TestSet() = default;

int64_t TestSet::batches() const {
    return gpu_ ? gpu_->batches_per_epoch() : loader_->batches_per_epoch();
}

EvalResult TestSet::evaluate(Layer& model, const std::vector<int64_t>& train_counts,
                             const ClassBalancedLoss* criterion, const EvalInput& input) {
    const std::function<Batch()> next = [this] { return gpu_ ? gpu_->next() : loader_->next(); };
    if (gpu_)
        gpu_->set_state({0, 0});
    else
        loader_->set_state({0, 0});
    return evaluate_batches(model, batches(), next, num_classes_, train_counts, criterion, input);
}

EvalResult evaluate(Layer& model, const Dataset& test, const std::vector<int64_t>& train_counts,
                    const EvalOptions& options, const ClassBalancedLoss* criterion) {
    return TestSet(test, options).evaluate(model, train_counts, criterion);
}

EvalResult evaluate_batches(Layer& model, int64_t batches, const std::function<Batch()>& next,
                            int64_t num_classes, const std::vector<int64_t>& train_counts,
                            const ClassBalancedLoss* criterion, const EvalInput& input) {
    Evaluator evaluator(num_classes, train_counts);
    PendingBatches pending;
    NoGradGuard no_grad;
    {
        const EvalMode eval_mode(model);
        for (int64_t b = 0; b < batches; ++b) {
            const Batch batch = next();
            const Tensor logits = model.forward(batch.images.to(input.dtype, input.format));
            pending.push(logits, batch.labels,
                         criterion != nullptr ? (*criterion)(logits, batch.labels) : Tensor());
            if (pending.full()) pending.score(evaluator);
        }
    }
    pending.score(evaluator);
    return evaluator.result();
}

nlohmann::json eval_result_json(const EvalResult& r, const std::vector<std::string>& class_names,
                                bool with_confusion) {
    const int64_t C = r.num_classes;
    CBNN_CHECK(static_cast<int64_t>(class_names.size()) == C,
               "eval_result_json: ", class_names.size(), " class names for ", C, " classes");
    const bool have_counts = !r.train_counts.empty();
    nlohmann::json per_class = nlohmann::json::array();
    for (int64_t c = 0; c < C; ++c)
        per_class.push_back(
            {{"name", class_names[c]},
             {"train_count", have_counts ? nlohmann::json(r.train_counts[c]) : nlohmann::json()},
             {"test_count", r.per_class_samples[c]},
             {"accuracy", number_or_null(r.per_class_accuracy[c])}});
    nlohmann::json j = {{"samples", r.samples},
                        {"top1_error", number_or_null(r.top1_error)},
                        {"top5_error", number_or_null(r.top5_error)},
                        {"test_loss", number_or_null(r.mean_loss)},
                        {"balanced_accuracy", number_or_null(r.balanced_accuracy)},
                        {"per_class", per_class}};
    for (ShotGroup g : {ShotGroup::many, ShotGroup::medium, ShotGroup::few}) {
        const GroupAccuracy& a = r.group(g);
        j[shot_group_name(g)] = {{"accuracy", number_or_null(a.accuracy)},
                                 {"classes", a.classes},
                                 {"samples", a.samples}};
    }
    if (with_confusion) {
        nlohmann::json rows = nlohmann::json::array();
        for (int64_t t = 0; t < C; ++t)
            rows.push_back(std::vector<int64_t>(r.confusion.begin() + t * C,
                                                r.confusion.begin() + (t + 1) * C));
        j["confusion"] = rows;
    }
    return j;
}

}  // namespace cbnn::train

#include "train/evaluate.h"

#include "autograd/grad_mode.h"
#include "data/loader.h"
#include "tensor/error.h"
#include "train/report.h"

namespace cbnn::train {

EvalResult evaluate(Layer& model, const Dataset& test, const std::vector<int64_t>& train_counts,
                    const EvalOptions& options, const ClassBalancedLoss* criterion) {
    CBNN_CHECK(options.batch_size >= 1, "evaluate: batch size ", options.batch_size,
               ": must be >= 1");
    LoaderOptions o;
    o.batch_size = options.batch_size;
    o.shuffle = false;
    o.train = false;
    o.seed = options.seed;
    o.num_threads = 0;
    o.device = options.device;
    Loader loader(test, o);
    return evaluate_batches(
        model, loader.batches_per_epoch(), [&] { return loader.next(); }, test.num_classes(),
        train_counts, criterion);
}

EvalResult evaluate_batches(Layer& model, int64_t batches, const std::function<Batch()>& next,
                            int64_t num_classes, const std::vector<int64_t>& train_counts,
                            const ClassBalancedLoss* criterion) {
    Evaluator evaluator(num_classes, train_counts);
    NoGradGuard no_grad;
    const bool was_training = model.is_training();
    model.eval();
    for (int64_t b = 0; b < batches; ++b) {
        const Batch batch = next();
        const Tensor logits = model.forward(batch.images);
        if (criterion != nullptr)
            evaluator.add(logits, batch.labels,
                          (*criterion)(logits, batch.labels).cpu().item<float>());
        else
            evaluator.add(logits, batch.labels);
    }
    model.train(was_training);
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

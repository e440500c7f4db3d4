// The shared epoch loop (design in train/train_loop.h).
#include "train/train_loop.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>

#include "autograd/functions.h"
#include "autograd/grad_mode.h"
#include "tensor/backend.h"
#include "tensor/error.h"
#include "tensor/file_io.h"
#include "train/background_writer.h"
#include "train/checkpoint.h"
#include "train/guard.h"
#include "train/report.h"
#include "train/run_lock.h"
#include "train/train_step.h"

namespace cbnn::train {

EvalPrecision parse_eval_precision(const std::string& name) {
    if (name == "fp32") return EvalPrecision::fp32;
    if (name == "train") return EvalPrecision::train;
    CBNN_FAIL("eval precision '", name, "' is not one of fp32, train");
}

namespace {
// The training step's input dtype: bf16 activations for --precision bf16, else f32 (TF32 is a
// math setting, not a dtype).
DType step_input_dtype(Precision precision) {
    return precision == Precision::bf16 ? DType::bf16 : DType::f32;
}
}  // namespace

EvalInput evaluation_input(const LoopSettings& s) {
    if (s.eval_precision == EvalPrecision::fp32) return {};
    return {step_input_dtype(s.precision), s.layout};
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

nlohmann::json resume_key(const nlohmann::json& config,
                          const std::vector<std::string>& may_change) {
    nlohmann::json key = config;
    for (const std::string& field : may_change) key.erase(field);
    return key;
}

// "seed 0 -> 1, depth 32 -> 20": the fields a resume may not change that differ between the
// checkpoint's config and the run's (a field only one of them has shows as "(none)").
std::string changed_fields(const nlohmann::json& saved, const nlohmann::json& now) {
    std::string out;
    const auto shown = [](const nlohmann::json& j, const std::string& field) {
        return j.contains(field) ? j.at(field).dump() : std::string("(none)");
    };
    nlohmann::json fields = saved;
    fields.update(now);  // the union of both key sets
    for (const auto& [field, unused] : fields.items()) {
        if (saved.contains(field) && now.contains(field) && saved.at(field) == now.at(field))
            continue;
        out += (out.empty() ? "" : ", ") + field + " " + shown(saved, field) + " -> " +
               shown(now, field);
    }
    return out;
}

// Where a resumed run starts: after the checkpoint's epoch and step, with the loader, model and
// optimiser restored, and the checkpoint's own metrics line (absent in older checkpoints).
struct ResumePoint {
    int64_t epoch = 0;
    int64_t step = 0;
    std::optional<EpochRecord> record;
};

// --resume. A folder with a run but no checkpoint yet (stopped in its first checkpoint interval
// before finishing an epoch) starts again from epoch 0: nothing is lost. Everything is checked
// before the weights are read (so a changed --depth is named, not reported as tensors that do not
// fit): the settings that must stay the same, the training set's class counts, the epochs.
ResumePoint resume_point(Layer& model, Sgd& sgd, BatchSource& loader, const LoopSettings& c,
                         const std::string& ckpt, std::ostream& log) {
    if (!std::filesystem::exists(ckpt)) {
        const std::filesystem::path dir(c.out_dir);
        CBNN_CHECK(std::filesystem::exists(dir / "config.json"), "--resume: ", dir.string(),
                   " holds no run to continue (no config.json, no checkpoint.bin)");
        const size_t recorded = recorded_epochs(dir).size();
        CBNN_CHECK(recorded == 0, "--resume: ", dir.string(), " has no checkpoint.bin, but ",
                   recorded, " finished epoch(s) in metrics.jsonl (no checkpoint written yet, ",
                   "or it was removed); they cannot be continued: delete the folder or choose ",
                   "another --out to train again");
        log << "--resume: no checkpoint in " << dir.string()
            << " yet (the run stopped before its first one): starting from epoch 0\n";
        return {};
    }
    const std::vector<uint8_t> bytes = read_file_bytes(ckpt, "--resume");
    ResumePoint point;
    try {
        const nlohmann::json meta = checkpoint_meta(bytes, ckpt);
        nlohmann::json saved = meta.at("config");
        // Runs from before --batching existed cut their epochs as `epochs` does.
        if (saved.is_object() && !saved.contains("batching")) saved["batching"] = "epochs";
        const nlohmann::json saved_key = resume_key(saved, c.resume_may_change);
        const nlohmann::json run_key = resume_key(c.config, c.resume_may_change);
        if (saved_key != run_key)
            CBNN_FAIL("--resume: ", ckpt, " was written with other settings that must stay the ",
                      "same: ", changed_fields(saved_key, run_key),
                      " (checkpoint -> this run; start a new --out folder to change them)");
        // --data may move, but the training set must be the one the checkpoint trained on.
        if (meta.contains("train_counts") && !c.train_counts.empty()) {
            const auto saved_counts = meta.at("train_counts").get<std::vector<int64_t>>();
            CBNN_CHECK(saved_counts == c.train_counts, "--resume: the training set differs from ",
                       "the checkpoint's: images per class ", nlohmann::json(saved_counts).dump(),
                       " there, ", nlohmann::json(c.train_counts).dump(), " now");
        }
        point.epoch = meta.at("epoch").get<int64_t>();
        point.step = meta.at("step").get<int64_t>();
        if (meta.contains("record")) point.record = EpochRecord::from_json(meta.at("record"));
        // A run stopped between its final checkpoint and that epoch's metrics line is finished
        // but for the line: the resume restores it and trains nothing.
        const std::vector<int64_t> recorded = recorded_epochs(c.out_dir);
        const bool line_missing = recorded.empty() || recorded.back() < point.epoch;
        CBNN_CHECK(point.epoch >= 0 && (point.epoch < c.epochs ||
                                        (point.epoch == c.epochs && point.record && line_missing)),
                   "--resume: the checkpoint already covers ", point.epoch, " epochs, --epochs is ",
                   c.epochs);
        // The loader state must name the first batch after the checkpoint's epoch (a damaged or
        // foreign meta could name any): checked before it can reach the batch arithmetic.
        const LoaderState state{meta.at("loader").at("epoch").get<int64_t>(),
                                meta.at("loader").at("batch").get<int64_t>()};
        CBNN_CHECK(state.epoch == point.epoch && state.batch == 0 &&
                       point.step == loader.plan.first_batch(point.epoch),
                   "--resume: ", ckpt, ": its loader state (epoch ", state.epoch, ", batch ",
                   state.batch, ") and step ", point.step, " do not follow its epoch ", point.epoch,
                   " under ", batching_name(loader.plan.batching()), " batching");
        deserialize_checkpoint(bytes, model, sgd, ckpt);
        loader.set_state(state);
    } catch (const nlohmann::json::exception& e) {
        CBNN_FAIL("--resume: ", ckpt, ": its meta data is not what a checkpoint holds (", e.what(),
                  ")");
    }
    log << "resumed from " << ckpt << " after epoch " << point.epoch << " (step " << point.step
        << ")\n";
    return point;
}

}  // namespace

void check_batch_fits(int64_t batch_size, int64_t train_size) {
    CBNN_CHECK(batch_size <= train_size, "batch size ", batch_size,
               " is larger than the training set (", train_size,
               " images): give a batch size of at most ", train_size);
}

void check_every_class_trained(const std::vector<int64_t>& train_counts,
                               const std::vector<std::string>& class_names) {
    for (size_t c = 0; c < train_counts.size(); ++c) {
        if (train_counts[c] > 0) continue;
        const std::string name =
            c < class_names.size() ? " (" + class_names[c] + ")" : std::string();
        CBNN_FAIL("class ", c, name, " has no training images; every class needs at least one");
    }
}

std::string run_checkpoint_path(const std::string& out_dir) {
    return (std::filesystem::path(out_dir) / "checkpoint.bin").string();
}

TrainResult run_training(Layer& model, const ClassBalancedLoss& criterion, Sgd& sgd,
                         const LrSchedule& schedule, BatchSource& loader,
                         const std::function<EvalResult()>& evaluate, const LoopSettings& c,
                         std::ostream& log) {
    // For the run's training and evaluation (TF32 off unless asked, whatever the process had).
    const RunKernelSettings kernels(c);
    const Device device = criterion.weights().device();  // where the model and loss live
    const BatchPlan& plan = loader.plan;
    TrainResult result;
    const RunLock lock(c.out_dir);  // before anything in the folder is read or written
    const std::string ckpt = run_checkpoint_path(c.out_dir);
    const ResumePoint from =
        c.resume ? resume_point(model, sgd, loader, c, ckpt, log) : ResumePoint{};
    const int64_t start_epoch = from.epoch;
    int64_t step = from.step;
    RunWriter run(c.out_dir, c.resume, start_epoch);
    run.set_class_names(c.class_names);
    // The checkpoint is written before its epoch's metrics line: a run stopped between the two
    // gets the line back from the checkpoint.
    const std::vector<EpochRecord>& kept = run.epochs();
    if (from.record && (kept.empty() || kept.back().epoch < start_epoch)) {
        run.append_epoch(*from.record);
    }
    if (static_cast<int64_t>(kept.size()) != start_epoch)
        log << "warning: metrics.jsonl holds " << kept.size() << " of the " << start_epoch
            << " epochs the checkpoint covers (a damaged or missing line ends what a resume "
               "can read); the others are missing from it and from report.html\n";
    if (start_epoch == c.epochs) {  // finished but for the last line (resume_point)
        log << "the run had finished; its last metrics line came back from the checkpoint\n";
        result.epochs_done = start_epoch;
        result.steps_done = step;
        result.final_test_error = from.record->test_error;
        result.final_eval.top1_error = from.record->test_error;
        result.final_eval.top5_error = from.record->top5;
        result.final_eval.num_classes = static_cast<int64_t>(c.train_counts.size());
        return result;
    }
    run.write_config(c.config);
    result.epochs_done = start_epoch;
    result.final_test_error = kNaN;

    const NamedTensors params = model.named_parameters();
    TrainStep train_step(model, criterion, sgd,
                         {.cuda_graph = c.cuda_graph,
                          .input_dtype = step_input_dtype(c.precision),
                          .input_format = c.layout});
    // The latest evaluation, shared with the writer's jobs (its confusion matrix may be large).
    std::shared_ptr<const EvalResult> last_eval;
    const auto run_start = std::chrono::steady_clock::now();
    int64_t images_this_run = 0, steps_this_run = 0;
    RunTimes times;
    // After run: jobs use it, and the destructor (on an error) waits for the job in hand.
    BackgroundWriter writer;
    try {
        for (int64_t epoch = start_epoch; epoch < c.epochs; ++epoch) {
            const auto epoch_start = std::chrono::steady_clock::now();
            Tensor loss_sum = Tensor::zeros({}, DType::f32, device);
            Tensor hits = Tensor::zeros({}, DType::f32, device);
            int64_t seen = 0;
            double lr = 0.0;
            const int64_t batches = plan.batches_in(epoch);
            for (int64_t b = 0; b < batches; ++b, ++step) {
                const Batch batch = loader.next();
                lr = schedule.lr(fractional_epoch(step, c.batch_size, c.train_size));
                // Also at each epoch's last step, so a non-finite update never reaches a
                // checkpoint.
                const bool check = (step + 1) % c.grad_check_every == 0 || b + 1 == batches;
                const StepOutputs out = train_step.run(batch, lr, [&] {
                    if (check) check_gradients(params, step);
                });
                {
                    NoGradGuard no_grad;
                    loss_sum = loss_sum + out.loss * static_cast<double>(batch.labels.size(0));
                    hits = hits + sum(eq(argmax(out.logits, 1), batch.labels).to(DType::f32));
                }
                seen += batch.labels.size(0);
                images_this_run += batch.labels.size(0);
                ++steps_this_run;
                if ((b + 1) % c.progress_every == 0 || b + 1 == batches) {
                    const double mean = loss_sum.cpu().item<float>() / static_cast<double>(seen);
                    check_loss(mean, step);
                    const double elapsed = seconds_since(run_start);
                    const double rate = static_cast<double>(images_this_run) / elapsed;
                    const double remaining =
                        static_cast<double>(plan.first_batch(c.epochs) - step - 1) *
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
            bool evaluated = false;
            if ((epoch + 1) % c.eval_every == 0 || epoch + 1 == c.epochs) {
                const auto eval_start = std::chrono::steady_clock::now();
                last_eval = std::make_shared<const EvalResult>(evaluate());
                record.eval_seconds = seconds_since(eval_start);
                times.add_evaluation(record.eval_seconds);
                evaluated = true;
                record.test_error = last_eval->top1_error;
                record.top5 = last_eval->top5_error;
                record.many = last_eval->many.accuracy;
                record.medium = last_eval->medium.accuracy;
                record.few = last_eval->few.accuracy;
                result.final_test_error = last_eval->top1_error;
                log << "epoch " << epoch + 1 << ": test error " << last_eval->top1_error
                    << ", training loss " << record.loss << "\n";
            }
            record.seconds = seconds_since(epoch_start);
            times.add_training(record.seconds -
                               (std::isnan(record.eval_seconds) ? 0.0 : record.eval_seconds));
            record.images_per_second = static_cast<double>(seen) / record.seconds;
            result.epochs_done = epoch + 1;
            result.steps_done = step;
            // The epoch's files go to the writer's thread; only the snapshot of the weights
            // (host copies) is taken here. eval.json, the checkpoint, then the metrics line: a
            // finished metrics.jsonl (what scripts/reproduce.py calls a complete run) implies
            // the final checkpoint and the final evaluation's eval.json.
            const auto files_start = std::chrono::steady_clock::now();
            std::optional<CheckpointSnapshot> snapshot;
            const bool checkpoint = (epoch + 1) % c.checkpoint_every == 0 || epoch + 1 == c.epochs;
            if (checkpoint) {
                const LoaderState ls = loader.state();
                snapshot = snapshot_checkpoint(
                    model, sgd,
                    {{"epoch", epoch + 1},
                     {"step", step},
                     {"seed", c.seed},
                     {"loader", {{"epoch", ls.epoch}, {"batch", ls.batch}}},
                     {"schedule",
                      {{"fractional_epoch", fractional_epoch(step, c.batch_size, c.train_size)},
                       {"lr", lr},
                       {"describe", schedule.describe()}}},
                     {"config", c.config},
                     {"train_counts", c.train_counts},
                     {"record", record.to_json()}});
            }
            writer.submit(
                [&run, &ckpt, snapshot = std::move(snapshot), record, evaluated, eval = last_eval] {
                    // eval.json before the checkpoint: a finished run resumed for its lost last
                    // line trains nothing, so its eval.json must already be the last epoch's.
                    if (evaluated) run.write_eval(*eval, record.epoch);
                    if (snapshot) save_checkpoint(ckpt, *snapshot);
                    run.append_epoch(record);
                    run.write_report(eval.get());
                });
            times.add_files(seconds_since(files_start), checkpoint ? 1 : 0);
        }
        times.add_files(writer.wait(), 0);
    } catch (const DivergenceError& e) {
        writer.wait();  // the epochs before the divergence keep their files
        result.diverged = true;
        result.message = e.what();
        // The cause is in result.message, which the tools print as their last line.
        log << "training diverged; the last good checkpoint ("
            << (std::filesystem::exists(ckpt) ? ckpt : std::string("none written yet"))
            << ") is kept\n";
        return result;
    }
    if (c.cuda_graph) {  // what --cuda-graph did, for reading the run's img/s
        log << "cuda graph: " << train_step.replays() << " of " << steps_this_run
            << " steps replayed"
            << (train_step.graph_mode() ? " (the others: warm-up and partial batches)"
                                        : " (the step could not be captured; see above)")
            << "\n";
    }
    log << times.describe(seconds_since(run_start)) << "\n";
    if (last_eval) result.final_eval = *last_eval;
    return result;
}

}  // namespace cbnn::train

// The shared epoch loop (design in train/train_loop.h).
#include "train/train_loop.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>

#include "autograd/functions.h"
#include "autograd/grad_mode.h"
#include "tensor/backend.h"
#include "tensor/error.h"
#include "train/checkpoint.h"
#include "train/guard.h"
#include "train/report.h"
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

}  // namespace

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
    const int64_t batches = loader.batches_per_epoch;
    TrainResult result;
    int64_t start_epoch = 0, step = 0;
    const std::string ckpt = run_checkpoint_path(c.out_dir);
    if (c.resume) {
        const nlohmann::json meta = load_checkpoint(ckpt, model, sgd);
        if (resume_key(meta.at("config"), c.resume_may_change) !=
            resume_key(c.config, c.resume_may_change))
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
    run.write_config(c.config);
    result.epochs_done = start_epoch;
    result.final_test_error = kNaN;

    const NamedTensors params = model.named_parameters();
    TrainStep train_step(model, criterion, sgd,
                         {.cuda_graph = c.cuda_graph,
                          .input_dtype = step_input_dtype(c.precision),
                          .input_format = c.layout});
    EvalResult last_eval;
    bool have_eval = false;
    const auto run_start = std::chrono::steady_clock::now();
    int64_t images_this_run = 0, steps_this_run = 0;
    RunTimes times;
    try {
        for (int64_t epoch = start_epoch; epoch < c.epochs; ++epoch) {
            const auto epoch_start = std::chrono::steady_clock::now();
            Tensor loss_sum = Tensor::zeros({}, DType::f32, device);
            Tensor hits = Tensor::zeros({}, DType::f32, device);
            int64_t seen = 0;
            double lr = 0.0;
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
                const auto eval_start = std::chrono::steady_clock::now();
                last_eval = evaluate();
                record.eval_seconds = seconds_since(eval_start);
                times.add_evaluation(record.eval_seconds);
                have_eval = true;
                run.write_eval(last_eval, epoch + 1);
                record.test_error = last_eval.top1_error;
                record.top5 = last_eval.top5_error;
                record.many = last_eval.many.accuracy;
                record.medium = last_eval.medium.accuracy;
                record.few = last_eval.few.accuracy;
                result.final_test_error = last_eval.top1_error;
                log << "epoch " << epoch + 1 << ": test error " << last_eval.top1_error
                    << ", training loss " << record.loss << "\n";
            }
            record.seconds = seconds_since(epoch_start);
            times.add_training(record.seconds -
                               (std::isnan(record.eval_seconds) ? 0.0 : record.eval_seconds));
            record.images_per_second = static_cast<double>(seen) / record.seconds;
            run.append_epoch(record);
            run.write_report(have_eval ? &last_eval : nullptr);
            result.epochs_done = epoch + 1;
            result.steps_done = step;
            if ((epoch + 1) % c.checkpoint_every == 0 || epoch + 1 == c.epochs) {
                const auto checkpoint_start = std::chrono::steady_clock::now();
                const LoaderState ls = loader.state();
                const nlohmann::json meta = {
                    {"epoch", epoch + 1},
                    {"step", step},
                    {"seed", c.seed},
                    {"loader", {{"epoch", ls.epoch}, {"batch", ls.batch}}},
                    {"schedule",
                     {{"fractional_epoch", fractional_epoch(step, c.batch_size, c.train_size)},
                      {"lr", lr},
                      {"describe", schedule.describe()}}},
                    {"config", c.config},
                    {"train_counts", c.train_counts}};
                save_checkpoint(ckpt, model, sgd, meta);
                times.add_checkpoint(seconds_since(checkpoint_start));
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
    if (c.cuda_graph) {  // what --cuda-graph did, for reading the run's img/s
        log << "cuda graph: " << train_step.replays() << " of " << steps_this_run
            << " steps replayed"
            << (train_step.graph_mode() ? " (the others: warm-up and partial batches)"
                                        : " (the step could not be captured; see above)")
            << "\n";
    }
    log << times.describe(seconds_since(run_start)) << "\n";
    if (have_eval) result.final_eval = last_eval;
    return result;
}

}  // namespace cbnn::train

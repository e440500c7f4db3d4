// Batches and epochs over the sample stream (design in data/batch_plan.h).
#include "data/batch_plan.h"

#include <algorithm>

#include "tensor/error.h"

namespace cbnn {

Batching parse_batching(const std::string& name) {
    if (name == "epochs") return Batching::epochs;
    if (name == "stream") return Batching::stream;
    CBNN_FAIL("batching '", name, "' is not one of epochs, stream");
}

const char* batching_name(Batching batching) {
    return batching == Batching::stream ? "stream" : "epochs";
}

BatchPlan::BatchPlan(int64_t n, int64_t batch_size, bool drop_last, Batching batching,
                     const char* who)
    : n_(n), batch_size_(batch_size), batching_(batching), who_(who) {
    CBNN_CHECK(batch_size >= 1, who, ": expected batch_size >= 1, got ", batch_size);
    CBNN_CHECK(n >= 1, who, ": the dataset is empty");
    CBNN_CHECK(!(drop_last && batching == Batching::stream), who,
               ": drop_last has no meaning with stream batching (every batch is full)");
    CBNN_CHECK(!drop_last || n >= batch_size, who, ": drop_last with batch_size ", batch_size,
               " > dataset size ", n, " leaves no batch");
    CBNN_CHECK(batching == Batching::epochs || n >= batch_size, who,
               ": stream batching with batch_size ", batch_size, " > dataset size ", n,
               " would leave epochs without a batch");
    epoch_batches_ = drop_last ? n / batch_size : (n + batch_size - 1) / batch_size;
}

BatchPlan::Span BatchPlan::span(int64_t g) const {
    if (batching_ == Batching::stream) return {g * batch_size_, batch_size_};
    const int64_t epoch = g / epoch_batches_, start = (g % epoch_batches_) * batch_size_;
    return {epoch * n_ + start, std::min(batch_size_, n_ - start)};
}

int64_t BatchPlan::last_epoch_of(int64_t g) const {
    const Span s = span(g);
    return (s.start + s.length - 1) / n_;
}

int64_t BatchPlan::batches_per_epoch() const {
    CBNN_CHECK(batching_ == Batching::epochs, who_,
               ": with stream batching epochs differ in length (plan().batches_in)");
    return epoch_batches_;
}

int64_t BatchPlan::first_batch(int64_t epoch) const {
    if (batching_ == Batching::stream) return epoch * n_ / batch_size_;
    return epoch * epoch_batches_;
}

LoaderState BatchPlan::state_of(int64_t g) const {
    // stream: the epoch of the batch's last sample, (g + 1) B - 1.
    const int64_t epoch =
        batching_ == Batching::stream ? ((g + 1) * batch_size_ - 1) / n_ : g / epoch_batches_;
    return {epoch, g - first_batch(epoch)};
}

int64_t BatchPlan::batch_of(LoaderState state) const {
    CBNN_CHECK(state.epoch >= 0 && state.batch >= 0 && state.batch < batches_in(state.epoch), who_,
               ": state (epoch ", state.epoch, ", batch ", state.batch,
               ") outside epoch >= 0, batch in [0, ",
               state.epoch >= 0 ? batches_in(state.epoch) : epoch_batches_, ")");
    return first_batch(state.epoch) + state.batch;
}

}  // namespace cbnn

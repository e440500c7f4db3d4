#pragma once
// A process-wide setting changed for one scope and restored when the scope ends, however it ends
// (tests and benchmarks of the alternative paths):
//   using Tf32Setting = ScopedSetting<bool, allow_tf32, set_allow_tf32>;
//   { const Tf32Setting tf32(true); ... }   // back to the previous value here

namespace cbnn {

template <class T, T (*Get)(), void (*Set)(T)>
class ScopedSetting {
  public:
    explicit ScopedSetting(T value) : previous_(Get()) { Set(value); }
    ~ScopedSetting() { Set(previous_); }
    ScopedSetting(const ScopedSetting&) = delete;
    ScopedSetting& operator=(const ScopedSetting&) = delete;

  private:
    T previous_;
};

}  // namespace cbnn

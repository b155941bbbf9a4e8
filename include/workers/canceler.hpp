#pragma once

/// @file
/// @brief `canceler`: ties other tasks' cancellation to a worker's end (upstream's `Lwt_canceler`).

#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace workers {

namespace detail {
template <class Def, class Kind>
class core;
}

/// @brief Hooks run once when a worker closes, whatever the cause.
///
/// Get it with `canceler(w)`. Copies share the same hooks. A typical use is to
/// emit an `asio::cancellation_signal` bound to another task:
/// `canceler(w).on_cancel([&] { asio::post(ex, [&] { signal.emit(terminal); }); })`.
/// For awaiting the end in a coroutine, `wait_for_completion(w)` is the tool.
///
/// Thread safety: every member may be called from any thread.
class canceler {
 public:
  /// @brief Runs `f` when the worker closes (on the worker's strand), or at once,
  /// on the calling thread, if it has closed already.
  void on_cancel(std::function<void()> f) const {
    std::unique_lock lock(impl_->mutex);
    if (!impl_->done) {
      impl_->hooks.push_back(std::move(f));
      return;
    }
    lock.unlock();
    f();
  }

  /// @brief True once the worker has closed and the hooks ran.
  bool canceled() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->done;
  }

 private:
  template <class Def, class Kind>
  friend class detail::core;

  struct impl {
    std::mutex mutex;
    bool done = false;
    std::vector<std::function<void()>> hooks;
  };

  canceler() : impl_(std::make_shared<impl>()) {}

  void cancel() const {
    std::vector<std::function<void()>> hooks;
    {
      std::lock_guard lock(impl_->mutex);
      impl_->done = true;
      hooks.swap(impl_->hooks);
    }
    for (auto& f : hooks) f();
  }

  std::shared_ptr<impl> impl_;
};

}  // namespace workers

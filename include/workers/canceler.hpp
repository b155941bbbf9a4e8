#pragma once

/// @file
/// @brief `canceler`: ties other tasks' cancellation to a worker's end (upstream's `Lwt_canceler`).

#include <workers/detail/config.hpp>
#include <workers/error.hpp>
#include <workers/status.hpp>

#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

WORKERS_BEGIN_NAMESPACE

namespace detail {
struct access;
}

/// @brief Hooks run once when a worker closes, whatever the cause (a shutdown,
/// a crash, or its execution context being destroyed).
///
/// Get it with `canceler(w)`. Copies share the same hooks. A typical use is to
/// emit an `asio::cancellation_signal` bound to another task:
/// `canceler(w).on_cancel([&] { asio::post(ex, [&] { signal.emit(terminal); }); })`.
/// For awaiting the end in a coroutine, `wait_for_completion(w)` is the tool.
///
/// The hooks run on the worker's strand after `on_close` and before the
/// callers of `wait_for_completion` and `shutdown` are answered (on the thread
/// that destroys the execution context, if that is how the worker ends). A
/// hook that throws does not keep the others from running nor any caller
/// from being answered: what it threw is added to the worker's crash errors
/// (`"canceler hook threw: …"`).
///
/// Thread safety: every member may be called from any thread.
class canceler {
 public:
  /// @brief Runs `f` when the worker closes, or at once, on the calling
  /// thread, if it has closed already (then what `f` throws propagates).
  void on_cancel(std::function<void()> f) const {
    std::unique_lock lock(impl_->mutex);
    if (!impl_->done) {
      impl_->hooks.push_back(std::move(f));
      return;
    }
    lock.unlock();
    f();
  }

  /// @brief True once the worker has closed and the hooks ran (or are running).
  bool canceled() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->done;
  }

 private:
  friend struct detail::access;

  struct impl {
    std::mutex mutex;
    bool done = false;
    std::vector<std::function<void()>> hooks;
  };

  explicit canceler(bool done) : impl_(std::make_shared<impl>()) { impl_->done = done; }

  // Runs the hooks once; returns what those that threw said.
  error_list cancel() const {
    std::vector<std::function<void()>> hooks;
    {
      std::lock_guard lock(impl_->mutex);
      impl_->done = true;
      hooks.swap(impl_->hooks);
    }
    error_list failures;
    for (auto& f : hooks) {
      try {
        f();
      } catch (...) {
        failures.push_back("canceler hook threw: " + detail::describe(std::current_exception()));
      }
    }
    return failures;
  }

  std::shared_ptr<impl> impl_;
};

namespace detail {
// The class, named where no function `canceler(w)` hides it yet.
using canceler_type = workers::canceler;
}  // namespace detail

WORKERS_END_NAMESPACE

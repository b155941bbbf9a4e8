#pragma once

// A worker's life, one state at a time:
//
//   launching ──► running ──► closing ──► closed
//       └──────────────────────►┘
//                 running ◄─► restarting ──► closing   (launch_options::restart)
//   launching, running, restarting, closing ──► abandoned   (its context died)
//
// `core::transition` is the only place the state changes; it checks the edge.
// A close that begins during the launch goes launching → closing; the launch
// then completes (with the worker if on_launch gave a state, else with an
// error) and the close goes on from there.

#include <workers/close_reason.hpp>
#include <workers/detail/config.hpp>
#include <workers/status.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

// Ordered: from restarting on the loop takes nothing, from closing on pushes are refused.
enum class phase : std::uint8_t { launching, running, restarting, closing, closed, abandoned };

constexpr bool legal_transition(phase from, phase to) noexcept {
  switch (to) {
    case phase::running:
      return from == phase::launching || from == phase::restarting;
    case phase::restarting:
      return from == phase::running;
    case phase::closing:
      return from == phase::launching || from == phase::running || from == phase::restarting;
    case phase::closed:
      return from == phase::closing;
    case phase::abandoned:
      return from != phase::closed && from != phase::abandoned;
    case phase::launching:
      break;
  }
  return false;
}

// Pushes are refused from closing on.
constexpr bool refuses_work(phase p) noexcept { return p >= phase::closing; }
// Nothing more will happen to the worker.
constexpr bool has_ended(phase p) noexcept { return p == phase::closed || p == phase::abandoned; }

// Why a worker closes, as the worker keeps it (under its lock): the cause
// inline, the crash errors (rare) on the heap; 16 bytes where an
// optional<close_reason> takes 48.
class kept_reason {
 public:
  bool has_value() const noexcept { return set_; }
  // The first cause wins; `errors` are added to those kept.
  void set(close_cause cause, std::optional<error_list> errors) {
    if (!set_) {
      cause_ = cause;
      set_ = true;
    }
    if (errors) add(std::move(*errors));
  }
  // A crash: the cause is handler_exception unless one was set before.
  void add(error_list errors) {
    set(close_cause::handler_exception, std::nullopt);
    if (!errors_) errors_ = std::make_unique<error_list>();
    for (auto& e : errors) errors_->push_back(std::move(e));
  }
  std::optional<error_list> crash_errors() const {
    return errors_ ? std::optional<error_list>(*errors_) : std::nullopt;
  }
  // The reason (a default one if none was set).
  close_reason get() const { return close_reason{set_ ? cause_ : close_cause{}, crash_errors()}; }

 private:
  std::unique_ptr<error_list> errors_;
  close_cause cause_{};
  bool set_ = false;
};

// The status a phase shows (an abandoned worker shows as closed, with its crash errors).
inline worker_status status_of(phase p, clock::time_point born, clock::time_point since,
                               const kept_reason& reason) {
  switch (p) {
    case phase::launching:
      return launching{since};
    case phase::running:
      return running{since};
    case phase::closing:
      return closing{born, since};
    case phase::restarting:  // worker_lifecycle::status fills it in
      return restarting{born, since};
    case phase::closed:
    case phase::abandoned:
      break;
  }
  return closed{born, since, reason.crash_errors()};
}

}  // namespace detail
WORKERS_END_NAMESPACE

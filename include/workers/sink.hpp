#pragma once

/// @file
/// @brief Where events go: the `event_sink` concept, `any_sink`, and the
/// process-wide default sink (silent unless replaced).
///
/// A table's sink is chosen when it is created (`create_table(kind, options)`);
/// a table without one uses the process-wide default *at each event*, so
/// replacing the default (`set_default_sink`, any thread) takes effect at once
/// for every such table.
///
/// **When a sink is asked.** `should_handle(level)` is asked once per level
/// when the sink is installed (as a table's sink or as the default), and the
/// answers are kept: an event whose level was not wanted is never built. A
/// sink whose filter changes is installed again.
///
/// **Where a sink runs.** `handle` runs on the thread that emits: the worker's
/// strand for every event but `request_refused` and `triggering_shutdown`,
/// which run on the caller's thread (the one that pushed, or that asked for the
/// shutdown). No lock of the library is held then: a sink may push to any
/// worker without waiting, read introspection, even shut the emitting worker
/// down; it must not block waiting for the worker that emits (its strand is
/// the one running the sink). Several workers emit concurrently: `handle`
/// must be thread-safe.
///
/// **A sink that throws** loses that event for that sink only: the exception is
/// caught (and counted, `sink_failures()`); the worker, the request's outcome
/// and the other sinks of a `fan_out` are unaffected.

#include <workers/detail/config.hpp>
#include <workers/events.hpp>

#include <atomic>
#include <concepts>
#include <cstdint>
#include <memory>
#include <mutex>
#include <type_traits>
#include <utility>

WORKERS_BEGIN_NAMESPACE

/// @brief A sink: says which levels it wants, and takes events.
template <class S>
concept event_sink = requires(const S& cs, S& s, level l, const event& e) {
  { cs.should_handle(l) } -> std::convertible_to<bool>;
  s.handle(e);
};

/// @brief Any `event_sink`, shared. Empty: no sink (for a table: use the default).
///
/// Copies share the sink. Thread safety: as the sink's own members; the
/// library calls `handle` from several threads at once.
class any_sink {
 public:
  constexpr any_sink() noexcept = default;

  /// @brief Owns `s` (moved in).
  template <event_sink S>
  requires(!std::is_same_v<std::decay_t<S>, any_sink>)
      any_sink(S s)  // NOLINT: implicit, as a sink is what a sink parameter takes
      : impl_(std::make_shared<model<S, S>>(std::move(s))) {}
  /// @brief Shares `s`: the caller keeps a handle on it (to read a backlog, say).
  template <event_sink S>
  any_sink(std::shared_ptr<S> s)  // NOLINT: implicit, as above
      : impl_(s ? std::make_shared<model<S, std::shared_ptr<S>>>(std::move(s)) : nullptr) {}

  /// @brief The sink's answer; false when empty.
  bool should_handle(level l) const { return impl_ && impl_->should_handle(l); }
  /// @brief Gives `e` to the sink (what it throws propagates); nothing when empty.
  void handle(const event& e) const {
    if (impl_) impl_->handle(e);
  }
  /// @brief True if it holds a sink.
  explicit operator bool() const noexcept { return impl_ != nullptr; }

 private:
  struct concept_t {
    virtual ~concept_t() = default;
    virtual bool should_handle(level) const = 0;
    virtual void handle(const event&) = 0;
  };
  template <class S, class Held>
  struct model final : concept_t {
    explicit model(Held h) : held(std::move(h)) {}
    S& get() {
      if constexpr (std::is_same_v<Held, S>)
        return held;
      else
        return *held;
    }
    const S& get() const {
      if constexpr (std::is_same_v<Held, S>)
        return held;
      else
        return *held;
    }
    bool should_handle(level l) const override { return static_cast<bool>(get().should_handle(l)); }
    void handle(const event& e) override { get().handle(e); }
    Held held;
  };

  std::shared_ptr<concept_t> impl_;
};

namespace detail {

// The levels a sink wants, one bit each: asked once, when it is installed.
inline std::uint8_t levels_of(const any_sink& s) {
  std::uint8_t mask = 0;
  for (unsigned l = 0; l <= static_cast<unsigned>(level::fatal); ++l)
    if (s.should_handle(static_cast<level>(l))) mask = static_cast<std::uint8_t>(mask | (1u << l));
  return mask;
}
constexpr std::uint8_t bit_of(level l) noexcept {
  return static_cast<std::uint8_t>(1u << static_cast<unsigned>(l));
}

// The process-wide default. Its level mask is read on every emission without
// a lock; the sink itself is copied under the lock, only for an event it wants.
struct default_sink_slot {
  std::mutex mutex;
  any_sink sink;
  std::atomic<std::uint8_t> levels{0};
};
inline constinit default_sink_slot default_slot{};

inline std::atomic<std::uint64_t> sink_failure_count{0};

// Calls `s.handle(e)`; what it throws is counted, not propagated.
inline void deliver(const any_sink& s, const event& e) noexcept {
  try {
    s.handle(e);
  } catch (...) {
    sink_failure_count.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace detail

/// @brief Replaces the process-wide default sink (empty: silent). Any thread;
/// events emitted after it returns go to `s`, unless their table has its own sink.
inline void set_default_sink(any_sink s) {
  const std::uint8_t levels = detail::levels_of(s);
  any_sink old;  // released after the lock
  std::lock_guard lock(detail::default_slot.mutex);
  old = std::exchange(detail::default_slot.sink, std::move(s));
  detail::default_slot.levels.store(levels, std::memory_order_relaxed);
}

/// @brief The process-wide default sink (empty when silent). Any thread.
inline any_sink default_sink() {
  std::lock_guard lock(detail::default_slot.mutex);
  return detail::default_slot.sink;
}

/// @brief How many exceptions sinks have thrown, process-wide (each lost one event
/// for that sink).
inline std::uint64_t sink_failures() noexcept {
  return detail::sink_failure_count.load(std::memory_order_relaxed);
}

WORKERS_END_NAMESPACE

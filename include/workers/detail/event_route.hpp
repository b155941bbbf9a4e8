#pragma once

// Where a table's events go: its own sink, or the process-wide default read
// at each event. `wants` is what the hot path pays when nobody listens: a
// load of a mask, no event built.

#include <workers/detail/config.hpp>
#include <workers/events.hpp>
#include <workers/sink.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

class event_route {
 public:
  event_route() = default;
  explicit event_route(any_sink s) : sink_(std::move(s)), levels_(levels_of(sink_)) {}

  WORKERS_ALWAYS_INLINE bool wants(level l) const noexcept {
    const std::uint8_t levels =
        sink_ ? levels_ : default_slot.levels.load(std::memory_order_relaxed);
    return (levels & bit_of(l)) != 0;
  }

  void deliver(const event& e) const noexcept {
    if (sink_) return detail::deliver(sink_, e);
    any_sink s;
    {
      std::lock_guard lock(default_slot.mutex);
      if (!(default_slot.levels.load(std::memory_order_relaxed) & bit_of(e.level))) return;
      s = default_slot.sink;  // replaced meanwhile: the new one, if it wants the level
    }
    detail::deliver(s, e);
  }

 private:
  any_sink sink_;
  std::uint8_t levels_ = 0;
};

}  // namespace detail
WORKERS_END_NAMESPACE

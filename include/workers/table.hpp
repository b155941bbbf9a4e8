#pragma once

/// @file
/// @brief Tables: the live workers of one group and one buffer kind, by name
/// (upstream's `'kind table`), with `list` and `find_opt`.

#include <workers/buffer_kind.hpp>
#include <workers/detail/access.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/table_state.hpp>
#include <workers/sink.hpp>
#include <workers/time_source.hpp>
#include <workers/worker.hpp>

#include <workers/supervision.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

WORKERS_BEGIN_NAMESPACE

/// @brief Options of `create_table`, shared by the table's workers.
struct table_options {
  /// @brief Where the workers' events go; empty: the process-wide default
  /// (`set_default_sink`), read at each event.
  any_sink sink = {};
  /// @brief Whether the workers keep metrics (`metrics(w)`). Off: no cost, and
  /// `metrics(w)` is empty.
  bool metrics = false;
  /// @brief The clocks the workers read and wait on (see `time_source`); empty:
  /// the real ones (`workers::clock`, `workers::steady_clock`, Asio's timers).
  /// A `testing::manual_clock` makes time move only when a test says so.
  std::shared_ptr<time_source> clock = {};
  /// @brief Which workers restart together, and their shared limits (see
  /// `table_supervision`); the default restarts each worker alone, by its own
  /// `launch_options::restart`.
  table_supervision supervision = {};
};

/// @brief A table of workers of one buffer kind (upstream's `'kind table`).
/// Cheap to copy; copies share the table. Made by `create_table`.
///
/// A worker is in its table from the start of its launch until it has closed;
/// a failed launch leaves no entry. Workers may outlive their table.
/// Thread safety: any thread.
template <class Def, class Kind>
class table {
 public:
  using definition = Def;                     ///< the group's definition
  using kind = Kind;                          ///< the buffer kind tag
  using worker_type = worker<Def, Kind>;      ///< the handle of its workers
  using name_type = typename Def::name_type;  ///< `Name::type`

  /// @brief How many workers are live (launching, running or closing). Any thread.
  std::size_t size() const { return state_->size(); }

 private:
  friend struct detail::access;
  explicit table(std::shared_ptr<detail::table_state<Def, Kind>> s) noexcept
      : state_(std::move(s)) {}

  std::shared_ptr<detail::table_state<Def, Kind>> state_;
};

/// @brief The live workers of `t` and their names, in no particular order
/// (upstream's `list`). A snapshot: any thread.
template <class Def, class Kind>
std::vector<std::pair<typename Def::name_type, worker<Def, Kind>>> list(const table<Def, Kind>& t) {
  return detail::access::table_state(t)->list();
}

/// @brief The live worker named `name` in `t`, if any (upstream's `find_opt`).
/// Any thread.
template <class Def, class Kind>
std::optional<worker<Def, Kind>> find_opt(const table<Def, Kind>& t,
                                          const typename Def::name_type& name) {
  return detail::access::table_state(t)->find(name);
}

WORKERS_END_NAMESPACE

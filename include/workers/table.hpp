#pragma once

/// @file
/// @brief Tables: the live workers of one group and one buffer kind, by name.

#include <workers/buffer_kind.hpp>
#include <workers/detail/core.hpp>
#include <workers/worker.hpp>

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

namespace workers {

namespace detail {
template <class Def, class Kind>
class table_state {
 public:
  using name_type = typename Def::name_type;
  using core_type = core<Def, Kind>;
  using config_type = buffer_config<Def, Kind>;

  explicit table_state(config_type config)
      : config_(std::make_shared<const config_type>(std::move(config))) {}

  // Shared with the workers, which may outlive the table.
  const std::shared_ptr<const config_type>& config() const noexcept { return config_; }

  bool try_insert(const name_type& name, std::shared_ptr<core_type> c) {
    std::lock_guard lock(mutex_);
    return workers_.try_emplace(name, std::move(c)).second;
  }
  void erase(const name_type& name, const core_type* c) {
    std::shared_ptr<core_type> gone;  // released after the lock
    std::lock_guard lock(mutex_);
    auto it = workers_.find(name);
    if (it != workers_.end() && it->second.get() == c) {
      gone = std::move(it->second);
      workers_.erase(it);
    }
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return workers_.size();
  }
  std::vector<std::pair<name_type, worker<Def, Kind>>> list() const {
    std::lock_guard lock(mutex_);
    std::vector<std::pair<name_type, worker<Def, Kind>>> out;
    out.reserve(workers_.size());
    for (const auto& [name, c] : workers_) out.emplace_back(name, worker<Def, Kind>(c));
    return out;
  }
  std::optional<worker<Def, Kind>> find(const name_type& name) const {
    std::lock_guard lock(mutex_);
    auto it = workers_.find(name);
    if (it == workers_.end()) return std::nullopt;
    return worker<Def, Kind>(it->second);
  }

 private:
  mutable std::mutex mutex_;
  std::unordered_map<name_type, std::shared_ptr<core_type>> workers_;
  std::shared_ptr<const config_type> config_;
};
}  // namespace detail

/// @brief A table of workers of one buffer kind. Cheap to copy; copies share the table.
///
/// A worker is in its table from the start of its launch until it has closed;
/// a failed launch leaves no entry. Thread safety: any thread.
template <class Def, class Kind>
class table {
 public:
  using definition = Def;
  using kind = Kind;
  using worker_type = worker<Def, Kind>;
  using name_type = typename Def::name_type;

  explicit table(std::shared_ptr<detail::table_state<Def, Kind>> s) : state_(std::move(s)) {}

  /// @brief The live workers and their names (upstream's `list`).
  std::vector<std::pair<name_type, worker_type>> list() const { return state_->list(); }
  /// @brief The live worker of that name, if any (upstream's `find_opt`).
  std::optional<worker_type> find_opt(const name_type& name) const { return state_->find(name); }
  /// @brief How many workers are live.
  std::size_t size() const { return state_->size(); }

  const std::shared_ptr<detail::table_state<Def, Kind>>& state() const noexcept { return state_; }

 private:
  std::shared_ptr<detail::table_state<Def, Kind>> state_;
};

/// @brief The live workers of `t` and their names.
template <class Def, class Kind>
auto list(const table<Def, Kind>& t) {
  return t.list();
}

/// @brief The live worker named `name` in `t`, if any.
template <class Def, class Kind>
auto find_opt(const table<Def, Kind>& t, const typename Def::name_type& name) {
  return t.find_opt(name);
}

}  // namespace workers

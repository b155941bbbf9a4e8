#pragma once

// The state behind a table handle: the live workers of one group and one
// buffer kind, by name, and the configuration its workers share.

#include <workers/detail/access.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/table_config.hpp>
#include <workers/supervision.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

WORKERS_BEGIN_NAMESPACE
template <class Def, class Kind>
class worker;
WORKERS_END_NAMESPACE

WORKERS_BEGIN_NAMESPACE
namespace detail {

template <class Def, class Kind>
class worker_core;

template <class Def, class Kind>
class table_state {
 public:
  using name_type = typename Def::name_type;
  using core_type = worker_core<Def, Kind>;
  using config_type = table_config<Def, Kind>;
  using worker_type = worker<Def, Kind>;

  explicit table_state(config_type config)
      : config_(std::make_shared<const config_type>(std::move(config))) {}

  // Shared with the workers, which may outlive the table.
  const std::shared_ptr<const config_type>& config() const noexcept { return config_; }

  bool try_insert(const name_type& name, std::shared_ptr<core_type> c) {
    std::lock_guard lock(mutex_);
    core_type& w = *c;
    if (!workers_.try_emplace(name, std::move(c)).second) return false;
    w.launch_order = ++launches_;
    return true;
  }
  // The live workers that restart with `c` under `strategy` (supervision.hpp),
  // in launch order.
  std::vector<std::shared_ptr<core_type>> restarted_with(const core_type* c,
                                                         supervision_strategy strategy) const {
    std::vector<std::shared_ptr<core_type>> out;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [name, w] : workers_)
        if (w.get() != c &&
            (strategy == supervision_strategy::one_for_all || w->launch_order > c->launch_order))
          out.push_back(w);
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a->launch_order < b->launch_order; });
    return out;
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
  std::vector<std::pair<name_type, worker_type>> list() const {
    std::lock_guard lock(mutex_);
    std::vector<std::pair<name_type, worker_type>> out;
    out.reserve(workers_.size());
    for (const auto& [name, c] : workers_)
      out.emplace_back(name, access::make_worker<worker_type>(c));
    return out;
  }
  std::optional<worker_type> find(const name_type& name) const {
    std::lock_guard lock(mutex_);
    auto it = workers_.find(name);
    if (it == workers_.end()) return std::nullopt;
    return access::make_worker<worker_type>(it->second);
  }

 private:
  mutable std::mutex mutex_;
  std::unordered_map<name_type, std::shared_ptr<core_type>> workers_;
  std::uint64_t launches_ = 0;  // launch order (rest_for_one)
  std::shared_ptr<const config_type> config_;
};

}  // namespace detail
WORKERS_END_NAMESPACE

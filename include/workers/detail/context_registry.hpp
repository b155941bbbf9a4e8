#pragma once

// An execution-context service that knows every worker of its context, from
// the launch's initiation until the worker is destroyed — closed workers
// included, since their strand and timer still refer to the context. When the
// context is destroyed, Asio shuts services down before it destroys the
// handlers it still queues; our shutdown abandons each worker: a live one is
// closed on the spot, and every one drops what refers to the context.
//
// The workers form an intrusive list (safe-link hooks) in a registry that each
// of them co-owns, so a worker destroyed after its context (a handle kept
// longer) unlinks itself from a registry that is still there.

#include <workers/detail/config.hpp>

#include <boost/asio/execution_context.hpp>
#include <boost/intrusive/list.hpp>

#include <memory>
#include <mutex>
#include <vector>

WORKERS_BEGIN_NAMESPACE
namespace detail {

class registered_worker : public boost::intrusive::list_base_hook<
                              boost::intrusive::link_mode<boost::intrusive::safe_link>> {
 public:
  // The execution context is being destroyed; no handler of it will run again.
  virtual void abandon() noexcept = 0;
  // A reference that keeps it alive, or none if it is being destroyed.
  virtual std::shared_ptr<registered_worker> keep_alive() noexcept = 0;

 protected:
  registered_worker() = default;
  ~registered_worker() = default;
};

class worker_registry {
 public:
  void add(registered_worker& w) {
    std::lock_guard lock(mutex_);
    if (!shut_down_) workers_.push_front(w);
  }
  void remove(registered_worker& w) noexcept {
    std::lock_guard lock(mutex_);
    if (w.is_linked()) workers_.erase(workers_.iterator_to(w));
  }
  // Unlinks every worker and returns those still alive.
  std::vector<std::shared_ptr<registered_worker>> take_all() {
    std::vector<std::shared_ptr<registered_worker>> live;
    std::lock_guard lock(mutex_);
    shut_down_ = true;
    workers_.clear_and_dispose([&](registered_worker* w) {
      if (auto p = w->keep_alive()) live.push_back(std::move(p));
    });
    return live;
  }

 private:
  mutable std::mutex mutex_;
  boost::intrusive::list<registered_worker, boost::intrusive::constant_time_size<false>> workers_;
  bool shut_down_ = false;
};

class worker_service final : public boost::asio::execution_context::service {
 public:
  using key_type = worker_service;
  static inline boost::asio::execution_context::id id;

  explicit worker_service(boost::asio::execution_context& ctx)
      : boost::asio::execution_context::service(ctx),
        registry_(std::make_shared<worker_registry>()) {}

  const std::shared_ptr<worker_registry>& registry() const noexcept { return registry_; }

 private:
  void shutdown() override {
    for (auto& w : registry_->take_all()) w->abandon();
  }

  std::shared_ptr<worker_registry> registry_;
};

}  // namespace detail
WORKERS_END_NAMESPACE

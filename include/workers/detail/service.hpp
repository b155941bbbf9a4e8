#pragma once

// An execution-context service that knows every worker of its context, from
// the launch's initiation until the worker is destroyed — closed workers
// included, since their strand and timer still refer to the context. When the
// context is destroyed, Asio shuts services down before it destroys the
// handlers it still queues; our shutdown abandons each worker: a live one is
// closed on the spot, and every one drops what refers to the context.
//
// The workers form an intrusive list in a registry that each of them co-owns,
// so a worker destroyed after its context (a handle kept longer) unlinks
// itself from a registry that is still there.

#include <boost/asio/execution_context.hpp>

#include <memory>
#include <mutex>
#include <vector>

namespace workers::inline v0::detail {

class registered_worker {
 public:
  // The execution context is being destroyed; no handler of it will run again.
  virtual void abandon() noexcept = 0;
  // A reference that keeps it alive, or none if it is being destroyed.
  virtual std::shared_ptr<registered_worker> keep_alive() noexcept = 0;

 protected:
  registered_worker() = default;
  ~registered_worker() = default;

 private:
  friend class worker_registry;
  registered_worker* prev_ = nullptr;
  registered_worker* next_ = nullptr;
  bool linked_ = false;
};

class worker_registry {
 public:
  void add(registered_worker* w) {
    std::lock_guard lock(mutex_);
    if (shut_down_) return;
    w->next_ = head_;
    if (head_) head_->prev_ = w;
    head_ = w;
    w->linked_ = true;
  }
  void remove(registered_worker* w) noexcept {
    std::lock_guard lock(mutex_);
    if (!w->linked_) return;
    if (w->prev_)
      w->prev_->next_ = w->next_;
    else
      head_ = w->next_;
    if (w->next_) w->next_->prev_ = w->prev_;
    w->prev_ = w->next_ = nullptr;
    w->linked_ = false;
  }
  // Unlinks every worker that is still alive and returns them.
  std::vector<std::shared_ptr<registered_worker>> take_all() {
    std::vector<std::shared_ptr<registered_worker>> live;
    std::lock_guard lock(mutex_);
    shut_down_ = true;
    for (auto* w = head_; w;) {
      auto* next = w->next_;
      if (auto p = w->keep_alive()) live.push_back(std::move(p));
      w->prev_ = w->next_ = nullptr;
      w->linked_ = false;
      w = next;
    }
    head_ = nullptr;
    return live;
  }
  bool shut_down() const {
    std::lock_guard lock(mutex_);
    return shut_down_;
  }

 private:
  mutable std::mutex mutex_;
  registered_worker* head_ = nullptr;
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

}  // namespace workers::inline v0::detail

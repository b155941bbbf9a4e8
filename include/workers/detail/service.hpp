#pragma once

// An execution-context service that knows the live workers of its context.
// When the context is destroyed, Asio shuts services down before it destroys
// the handlers it still queues; our shutdown drops what the workers hold on to
// (their parked loop, pending waiters), which would otherwise keep each other
// alive in a cycle, as Asio's own I/O objects do with their pending operations.

#include <boost/asio/execution_context.hpp>

#include <list>
#include <memory>
#include <mutex>
#include <vector>

namespace workers::detail {

class abandonable {
 public:
  virtual void abandon() noexcept = 0;

 protected:
  ~abandonable() = default;
};

class worker_service final : public boost::asio::execution_context::service {
 public:
  using key_type = worker_service;
  static inline boost::asio::execution_context::id id;

  explicit worker_service(boost::asio::execution_context& ctx)
      : boost::asio::execution_context::service(ctx) {}

  using registration = std::list<std::weak_ptr<abandonable>>::iterator;

  registration add(std::weak_ptr<abandonable> w) {
    std::lock_guard lock(mutex_);
    return live_.insert(live_.end(), std::move(w));
  }
  void remove(registration r) {
    std::lock_guard lock(mutex_);
    if (!shut_down_) live_.erase(r);
  }

 private:
  void shutdown() override {
    std::list<std::weak_ptr<abandonable>> live;
    {
      std::lock_guard lock(mutex_);
      shut_down_ = true;
      live.swap(live_);
    }
    for (auto& w : live)
      if (auto p = w.lock()) p->abandon();
  }

  std::mutex mutex_;
  std::list<std::weak_ptr<abandonable>> live_;
  bool shut_down_ = false;
};

}  // namespace workers::detail

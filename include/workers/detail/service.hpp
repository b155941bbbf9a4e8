#pragma once

// An execution-context service that knows the live workers of its context.
// When the context is destroyed, Asio shuts services down before it destroys
// the handlers it still queues; our shutdown drops what the workers hold on to
// (their own handle, pending waiters), which would otherwise keep each other
// alive in a cycle, as Asio's own I/O objects do with their pending operations.
// The workers form an intrusive list: registering one allocates nothing.

#include <boost/asio/execution_context.hpp>

#include <memory>
#include <mutex>
#include <vector>

namespace workers::detail {

class abandonable {
 public:
  virtual void abandon() noexcept = 0;
  // A reference that keeps it alive, or none if it is being destroyed.
  virtual std::shared_ptr<abandonable> keep_alive() noexcept = 0;

 protected:
  ~abandonable() = default;

 private:
  friend class worker_service;
  abandonable* prev_ = nullptr;
  abandonable* next_ = nullptr;
};

class worker_service final : public boost::asio::execution_context::service {
 public:
  using key_type = worker_service;
  static inline boost::asio::execution_context::id id;

  explicit worker_service(boost::asio::execution_context& ctx)
      : boost::asio::execution_context::service(ctx) {}

  void add(abandonable* w) {
    std::lock_guard lock(mutex_);
    w->next_ = head_;
    if (head_) head_->prev_ = w;
    head_ = w;
  }
  // Called by a worker's destructor too: the node stays valid until it returns.
  void remove(abandonable* w) {
    std::lock_guard lock(mutex_);
    if (shut_down_) return;
    if (w->prev_)
      w->prev_->next_ = w->next_;
    else if (head_ == w)
      head_ = w->next_;
    else
      return;  // not listed
    if (w->next_) w->next_->prev_ = w->prev_;
    w->prev_ = w->next_ = nullptr;
  }

 private:
  void shutdown() override {
    std::vector<std::shared_ptr<abandonable>> live;
    {
      std::lock_guard lock(mutex_);
      shut_down_ = true;
      for (auto* w = head_; w; w = w->next_)
        if (auto p = w->keep_alive()) live.push_back(std::move(p));
      head_ = nullptr;
    }
    for (auto& w : live) w->abandon();
  }

  std::mutex mutex_;
  abandonable* head_ = nullptr;
  bool shut_down_ = false;
};

}  // namespace workers::detail

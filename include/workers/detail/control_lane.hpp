#pragma once

// The control lane (`is_control_request`): where a worker's control requests
// wait, beside its mailbox, whatever the buffer kind. The loop takes from it
// first, so a control request waits behind other control requests only; it
// has no capacity and no merge. Made only for a group with a control type:
// any other worker has an empty member in its place and no branch.
//
// Any thread pushes under its lock; the worker's strand takes. The entry in
// hand stays in the lane until the next take (the handler refers to it), as a
// queue's batch keeps the requests taken; the worker clears the mailbox's
// `current` first (under the mailbox's lock, which introspection reads it
// under), so no reader sees it go. `ready()` is read with seq_cst, as the
// mailbox's park word: a push stores it before it tries to end the park, and
// the loop reads it after it parked (impl/run_loop.hpp), so one of them sees
// the other.

#include <workers/detail/config.hpp>
#include <workers/detail/entry_node.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

WORKERS_BEGIN_NAMESPACE
namespace detail {

template <class Entry>
class control_lane {
 public:
  // Entries ride in the queues' nodes, carved from the pushing thread's slab
  // (entry_node.hpp): no allocation per push, and none built or destroyed
  // under the lock (a request's destructor may call the worker).
  using node = entry_node<Entry>;
  using chain = typename node::chain;
  struct node_deleter {
    void operator()(node* n) const noexcept { node::destroy(n); }
  };
  using entry_ptr = std::unique_ptr<node, node_deleter>;

  control_lane() = default;
  control_lane(const control_lane&) = delete;
  control_lane& operator=(const control_lane&) = delete;
  ~control_lane() { node::free_chain(waiting_); }

  // Any thread: queues `e` (moved from); false, leaving it, once sealed.
  bool push(Entry& e) {
    entry_ptr n(node::make(std::move(e)));
    {
      std::lock_guard lock(mutex_);
      if (!sealed_) {
        waiting_.push_back(*n.release());
        count_.fetch_add(1, std::memory_order_seq_cst);
        return true;
      }
    }
    e = std::move(n->entry);
    return false;
  }
  // Any thread: whether a control request waits.
  bool ready() const noexcept { return count_.load(std::memory_order_seq_cst) != 0; }
  std::size_t size() const noexcept { return count_.load(std::memory_order_acquire); }

  // The strand: the oldest control request, now in hand, valid until the next
  // take or `ended`; null if none. The one in hand before goes to `retired`,
  // for the caller to destroy outside the lock.
  Entry* take(entry_ptr& retired) {
    std::lock_guard lock(mutex_);
    if (waiting_.empty()) return nullptr;
    retired = std::move(in_hand_);
    in_hand_.reset(&waiting_.front());
    waiting_.pop_front();
    count_.fetch_sub(1, std::memory_order_seq_cst);
    return &in_hand_->entry;
  }

  // The close: pushes fail from now on; what waits goes to `out`.
  void seal(std::vector<entry_ptr>& out) {
    std::lock_guard lock(mutex_);
    sealed_ = true;
    while (!waiting_.empty()) {
      out.emplace_back(&waiting_.front());
      waiting_.pop_front();
    }
    count_.store(0, std::memory_order_seq_cst);
  }
  // The close ended: the request handled last goes to `retired`.
  void ended(entry_ptr& retired) {
    std::lock_guard lock(mutex_);
    retired = std::move(in_hand_);
  }

  // Introspection, any thread: `f(entry)` for each waiting, oldest first.
  template <class F>
  void for_each_pending(F&& f) const {
    std::lock_guard lock(mutex_);
    for (const node& n : waiting_) f(n.entry);
  }

 private:
  mutable std::mutex mutex_;
  chain waiting_;  // oldest first
  entry_ptr in_hand_;
  std::atomic<std::size_t> count_{0};
  bool sealed_ = false;
};

// In place of the lane for a group without control types.
struct no_control_lane {};

}  // namespace detail
WORKERS_END_NAMESPACE

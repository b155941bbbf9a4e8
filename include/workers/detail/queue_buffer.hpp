#pragma once

// The FIFO behind queue workers. Producers append to `incoming_`; the worker
// swaps the whole of it into `batch_` and drains that without touching the
// producers' lock again, so a busy worker takes the producers' lock once per
// batch, not once per request. Both vectors keep their capacity, so steady
// state pushes do not allocate.
//
// A bounded queue (capacity > 0) holds exactly `capacity` requests. Producers
// that find it full wait in `blocked_`, oldest first; each request the worker
// takes admits the oldest of them. The count is atomic so that the worker
// takes the producers' lock for that only while producers wait: a producer
// about to wait says so (`has_blocked_`) before it looks at the count again,
// and the worker looks at `has_blocked_` after it lowered the count, so one
// of them always sees the other (both sequentially consistent).

#include <workers/detail/entry.hpp>
#include <workers/detail/waiter.hpp>

#include <atomic>
#include <cstddef>
#include <list>
#include <mutex>
#include <tuple>
#include <utility>
#include <vector>

namespace workers::detail {

// What a push that waits for room completes with: (error, enqueued).
using push_waiter = waiter<std::tuple<error_code, bool>>;

template <class Entry>
class queue_buffer {
 public:
  // A producer waiting for room. `push` is null for push-and-wait, whose caller
  // rides in the entry's reply.
  struct blocked_push {
    Entry entry;
    waiter_ref push;
  };
  // A list, not a deque: an empty one costs no allocation per worker.
  using blocked_list = std::list<blocked_push>;

  explicit queue_buffer(std::size_t capacity) : capacity_(capacity) {}

  // ---- under the producers' lock ----

  // Whether a newcomer must wait: full, or others already wait (FIFO).
  bool must_wait() const noexcept {
    return capacity_ != 0 &&
           (count_.load(std::memory_order_relaxed) >= capacity_ || !blocked_.empty());
  }
  void push(Entry&& e) {
    incoming_.push_back(std::move(e));
    if (capacity_ != 0) count_.fetch_add(1, std::memory_order_relaxed);
  }
  // A request without a caller, built in place.
  template <class R>
  void emplace(R&& request, clock::time_point pushed) {
    emplace_entry(incoming_, std::forward<R>(request), pushed);
    if (capacity_ != 0) count_.fetch_add(1, std::memory_order_relaxed);
  }
  // Parks `e` (and `push`, the producer's waiter, if any) until there is room;
  // false, leaving them untouched, if the worker made room meanwhile.
  bool block(Entry& e, waiter_ref* push) {
    has_blocked_.store(true, std::memory_order_seq_cst);
    if (blocked_.empty() && count_.load(std::memory_order_seq_cst) < capacity_) {
      has_blocked_.store(false, std::memory_order_relaxed);
      return false;
    }
    blocked_.push_back({std::move(e), push ? std::move(*push) : waiter_ref{}});
    return true;
  }
  bool incoming_empty() const noexcept { return incoming_.empty(); }

  // ---- worker side, under the batch lock; takes `producers` when needed ----

  // Whether `next` destroys the entries of a finished batch: only then must it
  // run under the batch lock. Within a batch, introspection reads entries
  // from `pos_` on while the worker advances it; the swap that starts a batch
  // happens under the producers' lock, which introspection takes as well.
  bool next_moves_entries() const noexcept {
    return !batch_.empty() && pos_.load(std::memory_order_relaxed) == batch_.size();
  }

  // The next entry, valid until the next call; null, after `on_empty()` under the
  // producers' lock, if there is none. Bounded queues admit waiting producers
  // into the room it leaves; their push waiters land in `admitted` to be
  // answered once the locks are released.
  template <class OnEmpty>
  Entry* next(std::mutex& producers, std::vector<waiter_ref>& admitted, const OnEmpty& on_empty) {
    std::size_t pos = pos_.load(std::memory_order_relaxed);
    if (pos == batch_.size()) {
      batch_.clear();
      pos = 0;
      pos_.store(0, std::memory_order_relaxed);
      std::lock_guard lock(producers);
      batch_.swap(incoming_);
      if (batch_.empty()) {
        on_empty();
        return nullptr;
      }
    }
    Entry* e = &batch_[pos];
    pos_.store(pos + 1, std::memory_order_release);
    if (capacity_ != 0) {
      count_.fetch_sub(1, std::memory_order_seq_cst);
      if (has_blocked_.load(std::memory_order_seq_cst)) {
        std::lock_guard lock(producers);
        admit(admitted);
      }
    }
    return e;
  }

  // ---- under both locks ----

  std::size_t size() const noexcept {
    return batch_.size() - pos_.load(std::memory_order_acquire) + incoming_.size();
  }
  template <class F>
  void for_each_pending(F&& f) const {
    for (std::size_t i = pos_.load(std::memory_order_acquire); i < batch_.size(); ++i) f(batch_[i]);
    for (const auto& e : incoming_) f(e);
  }
  // Empties the queue and the waiting producers.
  std::vector<Entry> take_all(blocked_list& blocked) {
    std::vector<Entry> out;
    out.reserve(size());
    for (std::size_t i = pos_.load(std::memory_order_relaxed); i < batch_.size(); ++i)
      out.push_back(std::move(batch_[i]));
    for (auto& e : incoming_) out.push_back(std::move(e));
    batch_.clear();
    incoming_.clear();
    pos_.store(0, std::memory_order_relaxed);
    count_.store(0, std::memory_order_relaxed);
    has_blocked_.store(false, std::memory_order_relaxed);
    blocked.swap(blocked_);
    return out;
  }

 private:
  // Oldest first; a producer that gave up (cancelled) is dropped unqueued.
  void admit(std::vector<waiter_ref>& admitted) {
    while (count_.load(std::memory_order_relaxed) < capacity_ && !blocked_.empty()) {
      auto b = std::move(blocked_.front());
      blocked_.pop_front();
      const bool gave_up =
          b.push ? b.push.get()->cancelled() : (b.entry.reply && b.entry.reply.get()->cancelled());
      if (gave_up) continue;
      incoming_.push_back(std::move(b.entry));
      count_.fetch_add(1, std::memory_order_relaxed);
      if (b.push) admitted.push_back(std::move(b.push));
    }
    if (blocked_.empty()) has_blocked_.store(false, std::memory_order_relaxed);
  }

  std::size_t capacity_;                  // 0: unbounded
  std::atomic<std::size_t> count_{0};     // bounded: incoming + batch remaining
  std::atomic<bool> has_blocked_{false};  // bounded: producers wait (producers' lock)
  std::vector<Entry> incoming_;
  std::vector<Entry> batch_;
  std::atomic<std::size_t> pos_{0};  // written on the strand only
  blocked_list blocked_;
};

}  // namespace workers::detail

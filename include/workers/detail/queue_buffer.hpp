#pragma once

// The FIFO behind queue workers. Producers append to `incoming_`; the worker
// swaps the whole of it into `batch_` and drains that without touching the
// producers' lock again, so a busy worker takes the producers' lock once per
// batch, not once per request. Three vectors rotate (incoming, batch, and the
// finished batch in `spare_`) and keep their capacity, so steady-state pushes
// do not allocate.
//
// No user code runs under the producers' lock but the move of a request into
// the queue: whatever leaves the buffer in a critical section (a finished
// batch, a drained queue, the old storage of a grown vector, a producer that
// gave up) is handed out in `leftovers` and destroyed once the lock is
// released, so a request's destructor may call the worker.
//
// A bounded queue (capacity > 0) holds exactly `capacity` requests. Producers
// that find it full wait in `blocked_`, oldest first; each request the worker
// takes admits the oldest of them. The count is atomic so that the worker
// takes the producers' lock for that only while producers wait: a producer
// about to wait says so (`has_blocked_`) before it looks at the count again,
// and the worker looks at `has_blocked_` after it lowered the count, so one
// of them always sees the other (both sequentially consistent).

#include <workers/detail/entry.hpp>
#include <workers/detail/leftovers.hpp>
#include <workers/detail/waiter.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <list>
#include <mutex>
#include <utility>
#include <vector>

namespace workers::inline v0::detail {

template <class Entry>
class queue_buffer {
 public:
  // A producer waiting for room. `push` is null for push-and-wait, whose caller
  // rides in the entry's reply.
  struct blocked_push {
    Entry entry;
    waiter_ptr push;
  };
  // A list, not a deque: an empty one costs no allocation per worker.
  using blocked_list = std::list<blocked_push>;

  using leftovers = detail::leftovers<Entry, blocked_list>;

  explicit queue_buffer(std::size_t capacity) : capacity_(capacity) {}

  // Under the producers' lock.

  // Whether a newcomer must wait: full, or others already wait (FIFO).
  bool must_wait() const noexcept {
    return capacity_ != 0 &&
           (count_.load(std::memory_order_relaxed) >= capacity_ || !blocked_.empty());
  }
  void push(Entry&& e, leftovers& out) {
    make_room(out);
    incoming_.push_back(std::move(e));
    if (capacity_ != 0) count_.fetch_add(1, std::memory_order_relaxed);
  }
  // A request without a caller, built in place.
  template <class R>
  void emplace(R&& request, clock::time_point pushed, leftovers& out) {
    make_room(out);
    incoming_.emplace_back(std::forward<R>(request), pushed);
    if (capacity_ != 0) count_.fetch_add(1, std::memory_order_relaxed);
  }
  // Parks `e` (and `push`, the producer's waiter, if any) until there is room;
  // false, leaving them untouched, if the worker made room meanwhile.
  bool block(Entry& e, waiter_ptr* push) {
    has_blocked_.store(true, std::memory_order_seq_cst);
    if (blocked_.empty() && count_.load(std::memory_order_seq_cst) < capacity_) {
      has_blocked_.store(false, std::memory_order_relaxed);
      return false;
    }
    blocked_.push_back({std::move(e), push ? std::move(*push) : waiter_ptr{}});
    return true;
  }
  bool incoming_empty() const noexcept { return incoming_.empty(); }

  std::size_t size() const noexcept {
    return batch_.size() - pos_.load(std::memory_order_acquire) + incoming_.size();
  }
  template <class F>
  void for_each_pending(F&& f) const {
    for (std::size_t i = pos_.load(std::memory_order_acquire); i < batch_.size(); ++i) f(batch_[i]);
    for (const auto& e : incoming_) f(e);
  }

  // A close: every pending request and waiting producer leaves the buffer.
  // The request being handled, if any, stays where it is, unless `everything`
  // (the execution context is gone, and with it what the entries refer to).
  void take_all(leftovers& out, bool everything = false) {
    auto& c = out.fill();
    const std::size_t from = everything ? 0 : pos_.load(std::memory_order_relaxed);
    c.entries.reserve(batch_.size() - from + incoming_.size());
    for (std::size_t i = from; i < batch_.size(); ++i) c.entries.push_back(std::move(batch_[i]));
    if (everything) {
      retire(c, batch_);
      retire(c, spare_);
    }
    for (auto& e : incoming_) c.entries.push_back(std::move(e));
    pos_.store(batch_.size(), std::memory_order_release);
    retire(c, incoming_);
    count_.store(0, std::memory_order_relaxed);
    has_blocked_.store(false, std::memory_order_relaxed);
    c.blocked.splice(c.blocked.end(), blocked_);
  }

  // Worker side: the strand.

  // The next entry, valid until the batch is finished; null, after
  // `on_empty()` under the producers' lock, if there is none. A finished
  // batch is swapped out under the lock (`on_rotate()` runs there too) and
  // destroyed by `collect()` once the lock is released. Bounded queues admit
  // waiting producers into the room the taken entry leaves.
  template <class OnRotate, class OnEmpty>
  Entry* next(std::mutex& producers, leftovers& out, const OnRotate& on_rotate,
              const OnEmpty& on_empty) {
    std::size_t pos = pos_.load(std::memory_order_relaxed);
    if (pos == batch_.size()) {
      std::lock_guard lock(producers);
      on_rotate();
      spare_.swap(batch_);
      batch_.swap(incoming_);
      pos = 0;
      pos_.store(0, std::memory_order_relaxed);
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
        admit(out);
      }
    }
    return e;
  }

  // Destroys the finished batch, outside the lock (its capacity is kept).
  void collect(bool /*everything*/ = false) { spare_.clear(); }

 private:
  // Grows `incoming_` without destroying anything under the lock: the old
  // storage, with its moved-from entries, goes to `out`.
  void make_room(leftovers& out) {
    if (incoming_.size() < incoming_.capacity()) return;
    std::vector<Entry> bigger;
    bigger.reserve(std::max<std::size_t>(16, 2 * incoming_.capacity()));
    for (auto& e : incoming_) bigger.push_back(std::move(e));
    incoming_.swap(bigger);
    if (bigger.capacity() != 0) out.fill().storage.push_back(std::move(bigger));
  }

  // Hands `v`'s storage to `c`, if it has any: a close with nothing ever
  // queued allocates nothing.
  static void retire(typename leftovers::contents& c, std::vector<Entry>& v) {
    if (v.capacity() != 0) c.storage.push_back(std::move(v));
    v.clear();
  }

  // Oldest first; a producer that gave up (cancelled) is dropped unqueued.
  void admit(leftovers& out) {
    while (count_.load(std::memory_order_relaxed) < capacity_ && !blocked_.empty()) {
      auto& c = out.fill();
      c.blocked.splice(c.blocked.end(), blocked_, blocked_.begin());
      auto& b = c.blocked.back();
      const bool gave_up = b.push ? b.push->gave_up() : (b.entry.reply && b.entry.reply->gave_up());
      if (gave_up) continue;
      push(std::move(b.entry), out);
      if (b.push) c.admitted.push_back(std::move(b.push));
    }
    if (blocked_.empty()) has_blocked_.store(false, std::memory_order_relaxed);
  }

  std::size_t capacity_;                  // 0: unbounded
  std::atomic<std::size_t> count_{0};     // bounded: incoming + batch remaining
  std::atomic<bool> has_blocked_{false};  // bounded: producers wait (producers' lock)
  std::vector<Entry> incoming_;
  std::vector<Entry> batch_;
  std::vector<Entry> spare_;         // strand only: the finished batch, until collected
  std::atomic<std::size_t> pos_{0};  // written on the strand only
  blocked_list blocked_;
};

}  // namespace workers::inline v0::detail

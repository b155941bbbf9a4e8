#pragma once

// The FIFO behind queue workers. Producers take no lock: each request rides
// in a node that a producer pushes onto the lock-free intake (intake.hpp);
// the worker takes the whole intake at once, reverses it into a batch in
// push order and handles the batch node by node. Nodes come from a
// per-thread cache of their size (op_allocator.hpp), and go back to the cache
// of the thread that took them, so a worker fed from its own thread or from
// another allocates nothing in steady state.
//
// One lock remains, the worker's mutex, and producers never take it but to
// wait for room in a full bounded queue. The worker takes it once per batch
// (not per request), to move the finished batch out and take the intake;
// introspection takes it to read. So what introspection walks stays alive:
// the batch from the next request on, then the intake, whose nodes only the
// worker unlinks, under that lock. `pending_requests` is thus the batch
// followed by the intake reversed, oldest first, while producers push.
//
// Push times: a producer reads the clock before its CAS, so two racing
// producers may link in the other order than they read it. The order of the
// queue is the order of the links, and a push time is raised to the one
// before it where needed (as the worker takes a batch, and as introspection
// reads the intake), so push times never go back along the queue.
//
// No user code runs under the lock but the move of a request: what leaves the
// buffer there (a finished batch, the requests taken by a close, a producer
// that gave up) is destroyed by `collect()` or with the `leftovers`, once the
// lock is released, so a request's destructor may call the worker.
//
// A bounded queue (capacity > 0) holds exactly `capacity` requests: a
// producer reserves its place in `count_` with a CAS before it pushes. When
// the queue is full, producers wait in `blocked_`, oldest first, and each
// request the worker takes admits the oldest of them. Producers do not
// overtake those who wait: a producer that sees `has_blocked_` takes the slow
// path. A producer about to wait says so (`has_blocked_`) before it looks at
// the count again, and the worker looks at `has_blocked_` after it lowered
// the count, so one of them always sees the other (both sequentially
// consistent).

#include <workers/clock.hpp>
#include <workers/detail/entry.hpp>
#include <workers/detail/entry_node.hpp>
#include <workers/detail/intake.hpp>
#include <workers/detail/leftovers.hpp>
#include <workers/detail/waiter.hpp>

#include <atomic>
#include <cstddef>
#include <list>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

namespace workers::inline v0::detail {

template <class Entry>
class queue_buffer {
 public:
  using node = entry_node<Entry>;
  using pushed = typename intake<node>::pushed;

  // A producer waiting for room. `push` is null for push-and-wait, whose caller
  // rides in the entry's reply.
  struct blocked_push {
    Entry entry;
    waiter_ptr push;
  };
  // A list, not a deque: an empty one costs no allocation per worker.
  using blocked_list = std::list<blocked_push>;

  using leftovers = detail::leftovers<Entry, blocked_list>;

  // `counted`: keep the length in an atomic (bounded queues, and workers that
  // watch their length: metrics, queue alarms), rather than count it when asked.
  queue_buffer(std::size_t capacity, bool counted) noexcept
      : counted_by_worker_(capacity != 0 || counted),
        capacity_(capacity),
        counted_(counted_by_worker_) {}
  queue_buffer(const queue_buffer&) = delete;
  queue_buffer& operator=(const queue_buffer&) = delete;
  ~queue_buffer() {
    free_chain(batch_head_);
    free_chain(spare_);
    free_chain(intake_.seal());
  }

  // Producers: any thread, no lock.

  // A place for one more request: false if a bounded queue is full or others
  // wait for room already (they go first). Undone by `unreserve`.
  bool reserve() noexcept {
    if (!counted_) return true;
    if (capacity_ == 0) {
      count_.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    return !has_blocked_.load(std::memory_order_seq_cst) && reserve_room();
  }
  void unreserve() noexcept {
    if (counted_) count_.fetch_sub(1, std::memory_order_relaxed);
  }

  // Links `n` (see intake::push): on `sealed` it still belongs to the caller.
  template <class BeforeWaking>
  pushed link(node* n, BeforeWaking&& before_waking) noexcept {
    return intake_.push(n, before_waking);
  }

  // Under the producers' lock (bounded queues): parks `e` (and `push`, the
  // producer's waiter, if any) until there is room; false, having reserved
  // the place and leaving them untouched, if there is room already.
  bool block(Entry& e, waiter_ptr* push) {
    has_blocked_.store(true, std::memory_order_seq_cst);
    if (blocked_.empty() && reserve_room()) {
      has_blocked_.store(false, std::memory_order_relaxed);
      return false;
    }
    blocked_.push_back({std::move(e), push ? std::move(*push) : waiter_ptr{}});
    return true;
  }

  // The worker: its strand (a parked loop, a close).

  bool park() noexcept { return intake_.park(); }
  // Any thread: true for the one caller that must wake a parked loop.
  bool unpark() noexcept { return intake_.unpark(); }

  // Introspection: under the lock.

  // Requests pushed and not taken yet (counted ones: places reserved too).
  std::size_t size() const noexcept {
    if (counted_) return count_.load(std::memory_order_acquire);
    return length(pos_.load(std::memory_order_acquire)) + length(intake_.peek());
  }
  // `f(entry, push time)` for each request not taken yet, oldest first.
  template <class F>
  void for_each_pending(F&& f) const {
    clock::time_point last = last_pushed_;
    for (const node* p = pos_.load(std::memory_order_acquire); p; p = p->next) {
      f(p->entry, p->entry.pushed);
      last = p->entry.pushed;
    }
    std::vector<const node*> newest_first;
    for (const node* p = intake_.peek(); p; p = p->next) newest_first.push_back(p);
    for (auto it = newest_first.rbegin(); it != newest_first.rend(); ++it) {
      if (last < (*it)->entry.pushed) last = (*it)->entry.pushed;
      f((*it)->entry, last);
    }
  }

  // A close: the intake is sealed (later pushes fail), and every pending
  // request and waiting producer leaves the buffer. The request being
  // handled, if any, stays where it is, unless `everything` (the execution
  // context is gone, and with it what the entries refer to). Then `collect()`.
  void take_all(leftovers& out, bool everything = false) {
    auto& c = out.fill();
    node* const pending = pos_.load(std::memory_order_relaxed);
    node* const from = everything ? batch_head_ : pending;
    node* const sealed = in_push_order(intake_.seal());
    // Reserved first: a vector that grows would destroy moved-from requests here.
    c.entries.reserve(length(from) + length(sealed));
    for (node* p = from; p; p = p->next) c.entries.push_back(std::move(p->entry));
    for (node* p = sealed; p; p = p->next) c.entries.push_back(std::move(p->entry));
    if (counted_) count_.fetch_sub(length(pending) + length(sealed), std::memory_order_relaxed);
    pos_.store(nullptr, std::memory_order_release);
    if (everything) retire_batch();
    retire(sealed);
    has_blocked_.store(false, std::memory_order_relaxed);
    c.blocked.splice(c.blocked.end(), blocked_);
  }

  // Worker side: the strand.

  // The next entry, valid until the batch is finished; null, after
  // `on_empty()` under the lock, if there is none. A finished batch is moved
  // out under the lock (`on_rotate()` runs there too) and destroyed by
  // `collect()` once the lock is released. Bounded queues admit waiting
  // producers into the room the taken entry leaves.
  template <class OnRotate, class OnEmpty>
  Entry* next(std::mutex& lock_of_worker, leftovers& out, const OnRotate& on_rotate,
              const OnEmpty& on_empty) {
    node* n = pos_.load(std::memory_order_relaxed);
    if (!n) {
      std::lock_guard lock(lock_of_worker);
      on_rotate();
      retire_batch();
      n = batch_head_ = in_push_order(intake_.take());
      if (!n) {
        on_empty();
        return nullptr;
      }
    }
    pos_.store(n->next, std::memory_order_release);
    if (counted_by_worker_) {
      count_.fetch_sub(1, std::memory_order_seq_cst);
      if (capacity_ != 0 && has_blocked_.load(std::memory_order_seq_cst)) {
        std::lock_guard lock(lock_of_worker);
        admit(out);
      }
    }
    return &n->entry;
  }

  // Destroys what the last step retired, outside the lock.
  void collect(bool /*everything*/ = false) noexcept { free_chain(std::exchange(spare_, nullptr)); }

 private:
  static std::size_t length(const node* n) noexcept { return node::length(n); }
  static void free_chain(node* n) noexcept { node::free_chain(n); }

  bool reserve_room() noexcept {
    std::size_t c = count_.load(std::memory_order_relaxed);
    while (c < capacity_)
      if (count_.compare_exchange_weak(c, c + 1, std::memory_order_seq_cst,
                                       std::memory_order_relaxed))
        return true;
    return false;
  }

  node* in_push_order(node* newest) noexcept { return node::in_push_order(newest, last_pushed_); }

  // Hands a chain to `collect()`.
  void retire(node* chain) noexcept {
    if (!chain) return;
    if (!spare_) {
      spare_ = chain;
      return;
    }
    node* tail = spare_;
    while (tail->next) tail = tail->next;
    tail->next = chain;
  }
  void retire_batch() noexcept { retire(std::exchange(batch_head_, nullptr)); }

  // Oldest first; a producer that gave up (cancelled) is dropped unqueued.
  void admit(leftovers& out) {
    while (!blocked_.empty() && reserve_room()) {
      auto& c = out.fill();
      c.blocked.splice(c.blocked.end(), blocked_, blocked_.begin());
      auto& b = c.blocked.back();
      const bool gave_up = b.push ? b.push->gave_up() : (b.entry.reply && b.entry.reply->gave_up());
      if (gave_up) {
        unreserve();
        continue;
      }
      (void)intake_.push(
          node::make(std::move(b.entry)));  // the worker runs: neither parked nor sealed
      if (b.push) c.admitted.push_back(std::move(b.push));
    }
    if (blocked_.empty()) has_blocked_.store(false, std::memory_order_relaxed);
  }

  // Laid out so that a producer's CAS on the intake's word, at the end, does
  // not steal a line the worker reads for each request: the worker's side
  // first (what `next()` and `collect()` touch each time), then at least 56
  // bytes that it touches only to take a batch, then the word. The worker
  // places what no request touches after the buffer.
  std::atomic<node*> pos_{nullptr};  // the next of the batch to take; written on the strand
  node* spare_ = nullptr;            // retired, until collected
  const bool counted_by_worker_;     // `counted_`, for the worker's side
  blocked_list blocked_;
  std::size_t capacity_;               // 0: unbounded
  std::atomic<std::size_t> count_{0};  // counted: places reserved and not taken
  bool counted_;
  std::atomic<bool> has_blocked_{false};  // bounded: producers wait (the lock)
  node* batch_head_ = nullptr;            // the batch, with the requests taken already
  clock::time_point last_pushed_{};       // the push time of the last request taken
  intake<node> intake_;
};

}  // namespace workers::inline v0::detail

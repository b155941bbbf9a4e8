#pragma once

// The mailbox of queue workers (see mailbox.hpp for the interface): a FIFO.
// Producers take no lock: each request rides in a node that a producer pushes
// onto the lock-free intake (intake.hpp); the worker takes the whole intake at
// once, reverses it into a batch in push order and handles the batch node by
// node. Nodes come from a per-thread cache of their size, and go back to the
// cache of the thread that took them, so a worker fed from its own thread or
// from another allocates nothing in steady state.
//
// One lock, the mailbox's own, and producers never take it but to wait for
// room in a full bounded queue (or to give a place back). The worker takes it
// once per batch (not per request), to retire the finished batch and take the
// intake; introspection takes it to read. So what introspection walks stays
// alive: the batch from the next request on, then the intake, whose nodes only
// the worker unlinks, under that lock. `pending_requests` is thus the batch
// followed by the intake reversed, oldest first, while producers push. Nothing
// of a node in a batch is written without the lock once it is linked, but its
// callers' stages (atomics) and its take stamp: a handler that takes its
// request by value has it moved out under the lock (`move_request`), and a
// request's callers are answered in place (reply_chain.hpp).
//
// Push times: a producer reads the clock before its CAS, so two racing
// producers may link in the other order than they read it. The order of the
// queue is the order of the links, and a push time is raised to the one
// before it where needed (as the worker takes a batch, and as introspection
// reads the intake), so push times never go back along the queue.
//
// No user code runs under the lock but the move of a request: what leaves the
// mailbox there (a finished batch, the requests taken by a close, a producer
// that gave up) is destroyed by `collect()` or with the `leftovers`, once the
// lock is released, so a request's destructor may call the worker.
//
// Places. A counted queue (bounded, or one whose length is watched: metrics,
// queue alarms) keeps its length in `count_`. A bounded queue (capacity > 0)
// holds exactly `capacity` requests: a producer reserves its place in `count_`
// with a CAS before it pushes. When the queue is full, producers wait in
// `room_.blocked`, oldest first, and each place that frees admits the oldest of
// them. Producers do not overtake those who wait: a producer that sees
// `room_.has_blocked` takes the slow path. A producer about to wait says so
// (`room_.has_blocked`) before it looks at the count again, and the worker looks at
// `room_.has_blocked` after it lowered the count, so one of them always sees the
// other (both sequentially consistent). A place frees when the worker takes a
// request, or when the caller of a queued request gives up: each caller
// holding a place is `queued` (waiter.hpp), and whichever of the worker's
// start and the caller's cancellation claims it first gives the place back:
// the worker as it takes it, the caller through `release_place`.
//
// Every admission and every take claims its waiter (start, enqueue) before it
// queues or handles: a producer whose cancellation won the claim is answered
// `operation_aborted` and its request is never handled; one whose admission
// won is answered `true` and cannot be cancelled any more.

#include <workers/clock.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/current_entry.hpp>
#include <workers/detail/entry.hpp>
#include <workers/detail/entry_node.hpp>
#include <workers/detail/intake.hpp>
#include <workers/detail/leftovers.hpp>
#include <workers/detail/mailbox.hpp>
#include <workers/detail/waiter.hpp>

#include <atomic>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

WORKERS_BEGIN_NAMESPACE
namespace detail {

template <class Def, class Host, bool Bounded>
class queue_mailbox {
 public:
  using entry_type = entry<Def>;
  using view_type = typename Def::request_view;
  using node = entry_node<entry_type>;
  using chain = typename node::chain;
  using pushed = typename intake<node>::pushed;

  // A producer waiting for room. `push` is null for push-and-wait, whose caller
  // rides in the entry's reply.
  struct blocked_push {
    entry_type entry;
    waiter_ptr push;
  };
  // A list, not a deque: an empty one costs no allocation per worker.
  using blocked_list = std::list<blocked_push>;
  using leftovers = detail::leftovers<entry_type, blocked_list>;

  // A queued request whose callers all gave up is not handled.
  static constexpr bool skips_abandoned = true;
  // A push-and-wait's caller may give up in any way while the request waits;
  // once it is handled, not `total` (its effects cannot be undone).
  static constexpr cancellation_policy caller_policy{any_cancellation, effects_kept};

  // `counted`: keep the length in an atomic (metrics, queue alarms) rather than
  // count it when asked; a bounded queue always does.
  queue_mailbox(Host& host, std::size_t capacity, bool counted) noexcept
      : counted_by_worker_(Bounded || counted),
        host_(host),
        counted_(counted_by_worker_),
        room_(capacity) {}
  queue_mailbox(const queue_mailbox&) = delete;
  queue_mailbox& operator=(const queue_mailbox&) = delete;
  ~queue_mailbox() {
    node::free_chain(batch_);
    node::free_chain(spare_);
    node::free_raw(intake_.seal());
  }

  // Whether a caller gives its place back when it gives up (see "Places").
  bool counted() const noexcept { return counted_; }

  // Producers: any thread.

  push_outcome push(entry_type& e, bool may_wait, waiter_ptr* push_waiter) {
    if constexpr (Bounded) {
      if (!reserve()) {
        if (!may_wait) return push_outcome::full;
        std::unique_lock lock(mutex_);
        if (sealed_) return push_outcome::sealed;
        if (block(e, push_waiter)) return push_outcome::waiting;
        // there was room: the place is reserved
      }
    } else {
      reserve();
    }
    if (counted_ && e.reply && !e.reply->enqueue()) {  // the caller gave up already
      unreserve();
      return push_outcome::abandoned;
    }
    return link(make_node(std::move(e)), &e);
  }

  template <class R>
  push_outcome push_now(R&& request, steady_clock::time_point stamp) {
    if (!reserve()) return push_outcome::full;
    return link(make_node(std::forward<R>(request), stamp), nullptr);
  }

  // A caller gave up while its request held a place (any thread).
  void release_place(leftovers& out) {
    std::lock_guard lock(mutex_);
    if (sealed_) return;  // the close took every place
    count_.fetch_sub(1, std::memory_order_seq_cst);
    if constexpr (Bounded)
      if (room_.has_blocked.load(std::memory_order_seq_cst)) admit(out);
  }

  // The worker: its strand.

  // The next request to handle, its caller started, valid until the batch is
  // retired (a finished batch is destroyed here, outside the lock); null if
  // there is none. A request whose callers all gave up is skipped (the books
  // count it `cancelled`). Bounded queues admit waiting producers into the
  // room the taken request leaves.
  entry_type* take(leftovers& out) {
    for (;;) {
      node* n = pos_.load(std::memory_order_relaxed);
      if (!n) {
        {
          std::lock_guard lock(mutex_);
          current_.clear();
          retire(batch_);
          batch_ = node::in_push_order(intake_.take(), last_pushed_);
          n = batch_.empty() ? nullptr : &batch_.front();
        }
        collect();  // the finished batch, outside the lock
        if (!n) return nullptr;
      }
      pos_.store(node::next(n), std::memory_order_release);
      entry_type& e = n->entry;
      if (e.reply && !e.reply->start()) [[unlikely]] {  // it gave its place back
        host_.note_cancelled(e);
        continue;
      }
      if (counted_by_worker_) {
        count_.fetch_sub(1, std::memory_order_seq_cst);
        if constexpr (Bounded)
          if (room_.has_blocked.load(std::memory_order_seq_cst)) {
            std::lock_guard lock(mutex_);
            admit(out);
          }
      }
      return &e;
    }
  }
  // The loop handles `e` from now on (introspection sees it as current).
  void handling(entry_type& e) noexcept { current_.set(&e); }

  bool park() noexcept { return intake_.park(); }
  // Any thread: true for the one caller that must resume a parked loop.
  bool unpark() noexcept { return intake_.unpark(); }
  void parked() noexcept {}
  void launched() noexcept {}
  void closing() noexcept {}
  void restarting() noexcept {}
  void abandoned() noexcept {}
  // The loop gives its strand up: the request in hand is done. The entry
  // stays in its batch (introspection may still read it) until retired.
  void yield() noexcept { current_.clear(); }
  // The request in hand, held elsewhere (the control lane), is about to go:
  // no reader may still see it.
  void release_current() {
    std::lock_guard lock(mutex_);
    current_.clear();
    moved_.forget();
  }

  // Moves the request of `e` (an R) out, for a handler that takes it by value:
  // under the lock introspection reads requests under, keeping its view for
  // `current` (the move leaves what it leaves).
  template <class R>
  R move_out(entry_type& e) {
    std::lock_guard lock(mutex_);
    moved_.keep(e, [&] { return Def::view_of(e.request); });
    return std::move(std::get<R>(e.request));
  }
  // The strand: the view kept for `e`, if its request was moved out.
  const view_type* moved_view(const entry_type& e) const noexcept { return moved_.of(&e); }

  // The close: the intake is sealed (later pushes fail), and every pending
  // request and waiting producer leaves. The requests taken stay where they
  // are, unless `everything` (the execution context is gone, and with it what
  // the entries refer to): then the one `in_hand`, if any, leaves too, and
  // those handled go with their batch. Then `collect()`.
  void seal(leftovers& out, bool everything, const entry_type* in_hand = nullptr) {
    auto& c = out.fill();
    std::lock_guard lock(mutex_);
    sealed_ = true;
    node* const pending = pos_.load(std::memory_order_relaxed);
    chain sealed = node::in_push_order(intake_.seal(), last_pushed_);
    // Reserved first: a vector that grows would destroy moved-from requests here.
    c.entries.reserve(1 + node::length(pending) + sealed.size());
    if (everything && in_hand) c.entries.push_back(std::move(const_cast<entry_type&>(*in_hand)));
    for (node* p = pending; p; p = node::next(p)) c.entries.push_back(std::move(p->entry));
    for (node& n : sealed) c.entries.push_back(std::move(n.entry));
    pos_.store(nullptr, std::memory_order_release);
    if (everything) {
      current_.clear();
      retire(batch_);
    }
    retire(sealed);
    if constexpr (Bounded) {
      room_.has_blocked.store(false, std::memory_order_relaxed);
      c.blocked.splice(c.blocked.end(), room_.blocked);
    }
  }

  // Destroys what the last step retired, outside the lock.
  void collect(bool /*everything*/ = false) noexcept { node::free_chain(spare_); }

  // The close ended (after `seal`): the requests handled, still in their
  // batch, go too (their destructors may call the worker).
  void ended() {
    {
      std::lock_guard lock(mutex_);
      current_.clear();
      retire(batch_);
    }
    collect();
  }

  // Introspection: any thread.

  // Requests waiting that someone wants (counted ones: places held).
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    if (sealed_) return 0;
    if (counted_) return count_.load(std::memory_order_acquire);
    std::size_t n = 0;
    auto count = [&](const entry_type&, steady_clock::time_point) { ++n; };
    walk(count);
    return n;
  }
  // `f(entry, push time)` for each request waiting that someone wants, oldest first.
  template <class F>
  void for_each_pending(F&& f) const {
    std::lock_guard lock(mutex_);
    for_each_pending_locked(f);
  }
  // `f(entry)` for the request being handled, if any; whether there is one.
  // `f(entry, view kept or null)` for the request being handled, if any;
  // whether there is one.
  template <class F>
  bool current(F&& f) const {
    std::lock_guard lock(mutex_);
    return current_locked(f);
  }
  // `pending(entry, push time)` for each request waiting, then `current(...)`
  // for the one being handled: under one lock, so that none shows twice or not at all.
  template <class Pending, class Current>
  void survey(Pending&& pending, Current&& current) const {
    std::lock_guard lock(mutex_);
    for_each_pending_locked(pending);
    current_locked(current);
  }

 protected:
  Host& host() const noexcept { return host_; }

 private:
  template <class F>
  void for_each_pending_locked(F& f) const {
    if (!sealed_) walk(f);
  }
  template <class F>
  bool current_locked(F& f) const {
    const entry_type* e = current_.get();
    if (e) f(*e, moved_.of(e));
    return e != nullptr;
  }

  static bool wanted_by_someone(const entry_type& e) noexcept {
    return !e.reply || !e.reply->gave_up();
  }

  // Under the lock: the batch from the next request on, then the intake.
  template <class F>
  void walk(F& f) const {
    steady_clock::time_point last = last_pushed_;
    for (const node* p = pos_.load(std::memory_order_acquire); p; p = node::next(p)) {
      last = p->entry.pushed;
      if (wanted_by_someone(p->entry)) f(p->entry, last);
    }
    std::vector<const node*> newest_first;
    for (const node* p = intake_.peek(); p; p = node::next(p)) newest_first.push_back(p);
    for (auto it = newest_first.rbegin(); it != newest_first.rend(); ++it) {
      if (last < (*it)->entry.pushed) last = (*it)->entry.pushed;
      if (wanted_by_someone((*it)->entry)) f((*it)->entry, last);
    }
  }

  // A place for one more request: false if a bounded queue is full or others
  // wait for room already (they go first). Undone by `unreserve`.
  bool reserve() noexcept {
    if constexpr (Bounded) {
      return !room_.has_blocked.load(std::memory_order_seq_cst) && reserve_room();
    } else {
      if (counted_) count_.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
  }
  void unreserve() noexcept {
    if (counted_) count_.fetch_sub(1, std::memory_order_relaxed);
  }
  bool reserve_room() noexcept {
    std::size_t c = count_.load(std::memory_order_relaxed);
    while (c < room_.capacity)
      if (count_.compare_exchange_weak(c, c + 1, std::memory_order_seq_cst,
                                       std::memory_order_relaxed))
        return true;
    return false;
  }

  // Under the lock (bounded queues): parks `e` (and `push`, the producer's
  // waiter, if any) until there is room; false, having reserved the place and
  // leaving them untouched, if there is room already.
  bool block(entry_type& e, waiter_ptr* push) {
    room_.has_blocked.store(true, std::memory_order_seq_cst);
    if (room_.blocked.empty() && reserve_room()) {
      room_.has_blocked.store(false, std::memory_order_relaxed);
      return false;
    }
    room_.blocked.push_back({std::move(e), push ? std::move(*push) : waiter_ptr{}});
    return true;
  }

  // A node for a reserved place.
  template <class... A>
  WORKERS_ALWAYS_INLINE node* make_node(A&&... a) {
    try {
      return node::make(std::forward<A>(a)...);
    } catch (...) {
      unreserve();
      throw;
    }
  }

  // Links a node whose place is reserved, and wakes the loop if it was
  // parked. If a close sealed the intake meanwhile, the entry goes back to
  // `back`, if given. Once linked, the node is the worker's: it may be handled,
  // and the worker end, before this returns (the caller's own handle may be
  // gone), so a wake-up holds the worker.
  push_outcome link(node* n, entry_type* back) {
    std::shared_ptr<Host> keep;
    switch (intake_.push(n, [&] {
      if (!keep) keep = host_.hold();
    })) {
      case pushed::queued:
      case pushed::first:
        break;
      case pushed::woke:
        host_.wake(std::move(keep));
        break;
      case pushed::sealed:  // refused: counted here, the request may go with its node
        unreserve();
        host_.note_refused(n->entry);
        if (back) *back = std::move(n->entry);
        node::destroy(n);
        return push_outcome::sealed;
    }
    return push_outcome::queued;
  }

  // Under the lock: lets the oldest producers waiting for room in, each one
  // claimed first (a push waiter is started, a push-and-wait caller queued).
  // One whose caller gave up stays in `out.blocked`, its place unused. From
  // the strand the loop is running, so no park ends; from `release_place` it
  // may, and `out.wake` says so.
  void admit(leftovers& out) {
    auto& c = out.fill();
    auto& blocked = room_.blocked;
    while (!blocked.empty() && reserve_room()) {
      blocked_push& b = blocked.front();
      const bool in = b.push ? b.push->start() : (!b.entry.reply || b.entry.reply->enqueue());
      if (!in) {
        unreserve();
        c.blocked.splice(c.blocked.end(), blocked, blocked.begin());
        continue;
      }
      if (intake_.push(node::make(std::move(b.entry))) == pushed::woke) c.wake = true;
      if (b.push) c.admitted.push_back(std::move(b.push));
      c.spent.splice(c.spent.end(), blocked, blocked.begin());
    }
    if (blocked.empty()) room_.has_blocked.store(false, std::memory_order_relaxed);
  }

  // Hands a chain to `collect()`.
  void retire(chain& c) noexcept {
    if (!c.empty()) spare_.splice_after(spare_.last(), c);
  }

  // Laid out so that a producer's CAS on the intake's word, at the end, does
  // not steal a line the worker reads for each request: the worker's side
  // first (what `take()` and `collect()` touch each time), then at least 56
  // bytes that it touches only to take a batch, then the word.
  std::atomic<node*> pos_{nullptr};  // the next of the batch to take; written on the strand
  current_entry<entry_type> current_;
  const bool counted_by_worker_;  // `counted_`, for the worker's side
  bool sealed_ = false;           // under the lock: the close took everything
  Host& host_;
  std::atomic<std::size_t> count_{0};  // counted: places reserved and not given back
  chain spare_;                        // retired, until collected
  mutable std::mutex mutex_;
  bool counted_;
  // Bounded queues: the room, and the producers waiting for it (the lock).
  struct room {
    explicit room(std::size_t c) noexcept : capacity(c) {}
    std::size_t capacity;
    std::atomic<bool> has_blocked{false};  // producers wait
    blocked_list blocked;
  };
  struct no_room {
    explicit no_room(std::size_t) noexcept {}
  };
  [[no_unique_address]] std::conditional_t<Bounded, room, no_room> room_;
  chain batch_;                                      // the batch, with the requests taken already
  detail::moved_view<entry_type, view_type> moved_;  // see move_out (under the lock)
  steady_clock::time_point last_pushed_{};           // the push time of the last request taken
  intake<node> intake_;
};

}  // namespace detail
WORKERS_END_NAMESPACE

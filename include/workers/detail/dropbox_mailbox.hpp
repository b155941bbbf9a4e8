#pragma once

// The mailbox of dropbox workers (see mailbox.hpp for the interface): a
// single slot. Producers take no lock: each put rides in a node that the
// producer pushes onto a lock-free intake, as in a queue (intake.hpp,
// entry_node.hpp); the worker takes the whole intake at once and the user's
// merge folds each put, oldest first, into the slot on the worker's strand (it
// may read the worker's state), outside every lock (it may call
// introspection). A put that finds the intake empty while the loop runs
// schedules a merge pass, so that a busy worker merges as soon as its strand
// is free: the slot, not the intake, is what waits. A merge pass builds the
// slot's next value in a cell nobody else reads and publishes it once, under
// the mailbox's lock, so introspection from any thread sees the slot whole,
// as of the end of a pass. As in the queue, no request is destroyed under the
// lock: three cells rotate (the slot, the request being handled, and a spare
// that is empty but between a change and the next `collect()`); under the
// lock only their roles change, and what leaves a cell is destroyed by
// `collect()`, outside it.
//
// A request leaving the slot unhandled takes its callers with it: they follow
// the request that replaces it, or are answered `request_dropped`, as the
// merge decided (see `merged`). The request the worker handles is the slot's,
// and its outcome is counted once; a put merged into it counts no outcome of
// its own, and one whose callers the merge drops counts `dropped` (the
// worker's `note_merged_away`), as its callers are told.

#include <workers/detail/config.hpp>
#include <workers/detail/current_entry.hpp>
#include <workers/detail/entry.hpp>
#include <workers/detail/entry_node.hpp>
#include <workers/detail/hook_executor.hpp>
#include <workers/detail/intake.hpp>
#include <workers/detail/leftovers.hpp>
#include <workers/detail/mailbox.hpp>
#include <workers/detail/reply_chain.hpp>
#include <workers/detail/waiter.hpp>
#include <workers/merged.hpp>
#include <workers/message_error.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

WORKERS_BEGIN_NAMESPACE
namespace detail {

template <class Def, class Host>
class dropbox_mailbox {
 public:
  using entry_type = entry<Def>;
  using view_type = typename Def::request_view;
  using any = typename Def::request_variant;
  struct blocked_push {  // a dropbox never makes producers wait
    entry_type entry;
    waiter_ptr push;
  };
  using blocked_list = std::vector<blocked_push>;
  using leftovers = detail::leftovers<entry_type, blocked_list>;
  using node = entry_node<entry_type>;
  using chain = typename node::chain;
  using pushed = typename intake<node>::pushed;

  // The slot's request is handled even if its callers all gave up: puts made
  // without a caller may have been merged into it.
  static constexpr bool skips_abandoned = false;
  // So a put-and-wait's caller may not cancel it `total`ly: it stays in the slot.
  static constexpr cancellation_policy caller_policy{effects_kept, effects_kept};

  dropbox_mailbox(Host& host, std::size_t /*capacity*/, bool /*counted*/) noexcept : host_(host) {}
  dropbox_mailbox(const dropbox_mailbox&) = delete;
  dropbox_mailbox& operator=(const dropbox_mailbox&) = delete;
  ~dropbox_mailbox() {
    node::free_chain(merging_);
    node::free_chain(retired_);
    node::free_raw(intake_.seal());
  }

  static constexpr bool counted() noexcept { return false; }

  // Producers: any thread, no lock. A dropbox has room for every put.

  push_outcome push(entry_type& e, bool /*may_wait*/, waiter_ptr* /*push_waiter*/) {
    return link(node::make(std::move(e)), &e);
  }
  template <class R>
  push_outcome push_now(R&& request, steady_clock::time_point stamp) {
    return link(node::make(std::forward<R>(request), stamp), nullptr);
  }
  void release_place(leftovers&) noexcept {}  // no places

  // The worker: its strand.

  // Folds the puts waiting into the slot, then takes the slot's request (its
  // callers started); null if the slot is empty, or if the close takes no
  // more (a merge crashed the worker: the slot is answered by the close).
  entry_type* take(leftovers& /*out*/) {
    merge_puts();
    if (host_.takes_no_more()) return nullptr;
    entry_type* e = nullptr;
    {
      std::lock_guard lock(mutex_);
      current_.clear();
      if (cells_[slot_]) {
        const auto handled = taken_;
        taken_ = slot_;
        slot_ = spare_;
        spare_ = handled;
        e = &*cells_[taken_];
      }
    }
    collect();  // the request handled before, now the spare, outside the lock
    if (!e) return nullptr;
    if (e->reply) start_chain(e->reply);
    return e;
  }
  void handling(entry_type& e) noexcept { current_.set(&e); }

  bool park() noexcept {
    if (slot()) return false;  // a put merged in the slot waits to be handled
    return intake_.park();
  }
  // Any thread: true for the one caller that must resume a parked loop.
  bool unpark() noexcept { return intake_.unpark(); }
  void parked() noexcept {}
  void launched() noexcept {}
  void closing() noexcept {}
  void restarting() noexcept {}
  void abandoned() noexcept {}
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

  // A merge pass scheduled by a put while the loop was not parked. Before the
  // loop runs (launching) the puts wait for it; after the close they were
  // answered by it.
  void merge_pass() {
    if (host_.merges()) merge_puts();
  }

  // The close: the intake is sealed (later puts fail); the slot's request and
  // the puts not merged yet leave, and if `everything` (the context is gone)
  // the request taken, which leaves with them if it is `in_hand`. Then
  // `collect(everything)`, outside the lock.
  void seal(leftovers& out, bool everything, const entry_type* in_hand = nullptr) {
    auto& c = out.fill();
    std::lock_guard lock(mutex_);
    sealed_ = true;
    chain sealed = node::in_push_order(intake_.seal(), last_pushed_);
    // Reserved first: a vector that grows would destroy moved-from requests here.
    c.entries.reserve(2 + node::length(merging_.empty() ? nullptr : &merging_.front()) +
                      sealed.size());
    if (everything) {
      current_.clear();
      if (cells_[taken_] && &*cells_[taken_] == in_hand)
        c.entries.push_back(std::move(*cells_[taken_]));
    }
    if (cells_[slot_]) {
      c.entries.push_back(std::move(*cells_[slot_]));
      std::swap(slot_, spare_);  // the slot is the empty spare now
    }
    for (node& n : merging_) c.entries.push_back(std::move(n.entry));
    for (node& n : sealed) c.entries.push_back(std::move(n.entry));
    retire(merging_);
    retire(sealed);
  }
  // The close ended (after `seal`): the request handled last goes too.
  void ended() {
    {
      std::lock_guard lock(mutex_);
      current_.clear();
    }
    collect(true);
  }
  // Destroys what left its cell (the spare; also the request handled last if
  // `everything`), outside the lock.
  void collect(bool everything = false) {
    cells_[spare_].reset();
    if (everything) cells_[taken_].reset();
    node::free_chain(retired_);
  }

  // Introspection: any thread.

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return !sealed_ && slot() ? 1 : 0;
  }
  template <class F>
  void for_each_pending(F&& f) const {
    std::lock_guard lock(mutex_);
    for_each_pending_locked(f);
  }
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

 private:
  template <class F>
  void for_each_pending_locked(F& f) const {
    if (!sealed_ && slot()) f(*slot(), slot()->pushed);
  }
  template <class F>
  bool current_locked(F& f) const {
    const entry_type* e = current_.get();
    if (e) f(*e, moved_.of(e));
    return e != nullptr;
  }

  // Links `n`: a put that finds the loop parked wakes it; one that finds the
  // intake empty while the loop runs posts a merge pass. If a close sealed the
  // intake meanwhile, the entry goes back to `back`, if given.
  push_outcome link(node* n, entry_type* back) {
    std::shared_ptr<Host> keep;
    switch (intake_.template push<true>(n, [&] {
      if (!keep) keep = host_.hold();
    })) {
      case pushed::queued:
        break;
      case pushed::first:
        host_.post_with(std::move(keep), [](Host& h) { h.mailbox().merge_pass(); });
        break;
      case pushed::woke:
        host_.wake(std::move(keep));
        break;
      case pushed::sealed:  // refused: counted here, the request may go with its node
        host_.note_refused(n->entry);
        if (back) *back = std::move(n->entry);
        node::destroy(n);
        return push_outcome::sealed;
    }
    return push_outcome::queued;
  }

  // Folds the puts waiting into the slot, on the strand. A merge that throws
  // crashes the worker; its put's caller gets the exception.
  void merge_puts() {
    if (!intake_.peek()) return;
    auto self = host_.self();
    try {
      hook_scope inside;
      merge_inbox([&](any&& in, const any* pending) {
        return host_.config().buffer.merge(self, std::move(in), pending);
      });
    } catch (...) {
      host_.crash("merge", std::current_exception());
    }
  }

  // Folds the waiting puts into the slot, oldest first, with
  // `merge(any&&, const any*) -> merged<any>`. If a merge throws, its put's
  // caller gets the exception and it propagates; the later puts stay for the
  // close to answer.
  template <class Merge>
  void merge_inbox(Merge&& merge) {
    merging_ = node::in_push_order(intake_.take(), last_pushed_);
    chain merged_ones;  // their moved-from entries, freed at once
    struct free_on_exit {
      chain& c;
      ~free_on_exit() { node::free_chain(c); }
    } freed{merged_ones};
    try {
      while (!merging_.empty()) {
        node& n = merging_.front();
        merging_.pop_front();
        merged_ones.push_front(n);
        merge_one(std::move(n.entry), merge);
      }
    } catch (...) {
      publish();
      throw;
    }
    publish();
  }

  // Callers the merge dropped, with what the books need of their request.
  struct dropped {
    std::size_t type;
    waiter_ptr callers;
    std::optional<view_type> view;  // if the worker's books are kept (host.observing())
    steady_clock::time_point pushed;
  };

  // Hands a chain to `collect()`.
  void retire(chain& c) noexcept {
    if (!c.empty()) retired_.splice_after(retired_.last(), c);
  }

  // Whether callers of alternative `type` can share one request (they each get a copy of its
  // result).
  static bool shareable(std::size_t type) {
    return with_alternative<any>(
        type, []<class R>() { return std::is_copy_constructible_v<reply_result<R>>; });
  }

  // Adds `callers` of a request of alternative `type` to `chain`, which waits on
  // alternative `to`, if they may follow it; otherwise they are dropped.
  // `tail`: the chain's last caller, kept (so that joining it costs O(1) however
  // many followed before); `last`: that of `d.callers`, if known.
  static void follow_or_drop(dropped d, waiter_base* last, bool wanted, std::size_t to,
                             waiter_ptr& chain, waiter_base*& tail, std::vector<dropped>& out) {
    if (!d.callers) return;
    if (wanted && d.type == to && (!chain || shareable(to))) {
      if (!last)
        for (last = d.callers.get(); last->next(); last = last->next().get()) {
        }
      if (chain)
        (tail ? tail : chain.get())->append(std::move(d.callers));
      else
        chain = std::move(d.callers);
      tail = last;
      return;
    }
    out.push_back(std::move(d));
  }

  entry_type* slot() noexcept { return cells_[slot_] ? &*cells_[slot_] : nullptr; }
  const entry_type* slot() const noexcept { return cells_[slot_] ? &*cells_[slot_] : nullptr; }

  // During a merge pass the slot's next value is staged in the spare cell,
  // which nobody else reads, and published once at the end of the pass: one
  // lock per pass, not one per put.
  std::optional<entry_type>& staged_slot() noexcept {
    return staged_ ? cells_[spare_] : cells_[slot_];
  }
  void publish() {
    if (!staged_) return;
    {
      std::lock_guard lock(mutex_);
      std::swap(slot_, spare_);
    }
    staged_ = false;
    collect();  // the request that left the slot, if any
  }

  static void drop(dropped d, std::vector<dropped>& out) {
    if (d.callers) out.push_back(std::move(d));
  }

  // What the books need of a request whose callers the merge may drop.
  dropped leaving(entry_type& e) {
    std::optional<view_type> v;
    if (e.reply && host_.observing()) v.emplace(Def::view_of(e.request));
    return {e.request.index(), std::move(e.reply), std::move(v), e.pushed};
  }

  template <class Merge>
  void merge_one(entry_type in, Merge& merge) {
    std::optional<entry_type>& cell = staged_slot();
    entry_type* held = cell ? &*cell : nullptr;
    const any* pending = held ? &held->request : nullptr;
    dropped incoming = leaving(in);  // taken before the merge takes the request
    std::optional<merged<any>> m;
    try {
      m.emplace(merge(std::move(in.request), pending));
    } catch (...) {
      answer_error<Def>(incoming.type, std::move(incoming.callers),
                        handler_exception{std::current_exception()});
      throw;
    }

    std::vector<dropped> out;
    switch (m->what()) {
      case merged<any>::kind::keep_pending:
        if (!held) {  // nothing to keep
          drop(std::move(incoming), out);
        } else if (incoming.callers) {
          // The slot's own callers stay. Changing the published slot takes the lock.
          waiter_ptr chain = std::move(held->reply);
          follow_or_drop(std::move(incoming), nullptr, follows(m->followers(), follow::incoming),
                         held->request.index(), chain, tails_[staged_ ? spare_ : slot_], out);
          std::unique_lock<std::mutex> lock;
          if (!staged_) lock = std::unique_lock(mutex_);
          held->reply = std::move(chain);
        }
        break;
      case merged<any>::kind::empty:
        drop(std::move(incoming), out);
        if (held) {
          drop(leaving(*held), out);
          if (staged_) cells_[spare_].reset();
          staged_ = true;  // the spare, empty, is the slot to be
        }
        break;
      case merged<any>::kind::replace: {
        // The slot has waited since its first put: keep that time.
        const auto pushed_at = held ? held->pushed : incoming.pushed;
        std::optional<dropped> pending_one;
        waiter_base* const pending_last = held ? tails_[staged_ ? spare_ : slot_] : nullptr;
        if (held) pending_one.emplace(leaving(*held));
        // Built in the spare cell (the staged request, if any, is replaced in place).
        auto& next = cells_[spare_].emplace(std::move(m->request()), pushed_at);
        waiter_base*& tail = tails_[spare_];
        tail = nullptr;
        staged_ = true;
        const std::size_t to = next.request.index();
        if (pending_one)
          follow_or_drop(std::move(*pending_one), pending_last,
                         follows(m->followers(), follow::pending), to, next.reply, tail, out);
        follow_or_drop(std::move(incoming), nullptr, follows(m->followers(), follow::incoming), to,
                       next.reply, tail, out);
        break;
      }
    }
    for (auto& d : out) {
      host_.note_merged_away(d.view, d.pushed, !chain_wanted(d.callers));
      answer_error<Def>(d.type, std::move(d.callers), request_dropped{});
    }
  }

  // As in queue_mailbox: the intake's word at the end, at least 56 bytes past
  // what the worker writes for each put it merges (the cells and their
  // roles), so that a producer's CAS does not steal that line.
  std::optional<entry_type> cells_[3];
  // The last caller of each cell's chain (cells_[i]->reply), if it has one.
  waiter_base* tails_[3] = {};
  // The cells' roles: changed under the lock, on the strand.
  std::uint8_t slot_ = 0, taken_ = 1, spare_ = 2;
  bool staged_ = false;  // strand only: the spare holds the slot to be (see publish)
  bool sealed_ = false;  // under the lock: the close took everything
  current_entry<entry_type> current_;
  Host& host_;
  detail::moved_view<entry_type, view_type> moved_;  // see move_out (under the lock)
  chain merging_;                                    // strand only: taken puts not merged yet
  chain retired_;                                    // left by a close, until collected
  steady_clock::time_point last_pushed_{};           // the push time of the last put taken
  mutable std::mutex mutex_;
  intake<node> intake_;
};

}  // namespace detail
WORKERS_END_NAMESPACE

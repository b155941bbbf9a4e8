#pragma once

// The single slot behind dropbox workers. Producers take no lock: each put
// rides in a node that the producer pushes onto a lock-free intake, as in a
// queue (intake.hpp, entry_node.hpp); the worker takes the whole intake at
// once and the user's merge folds each put, oldest first, into the slot on
// the worker's strand (it may read the worker's state), outside every lock
// (it may call introspection). A put that finds the intake empty while the
// loop runs schedules a merge pass, so that a busy worker merges as soon as
// its strand is free: the slot, not the intake, is what waits. A merge pass
// builds the slot's next value in a cell nobody else reads and publishes it
// once, under the worker's lock, so introspection from any thread sees the
// slot whole, as of the end of a pass. As in the queue, no request is destroyed under the
// lock: three cells rotate (the slot, the request being handled, and a spare
// that is empty but between a change and the next `collect()`); under the
// lock only their roles change, and what leaves a cell is destroyed by
// `collect()`, outside it.
//
// A request leaving the slot unhandled takes its callers with it: they follow
// the request that replaces it, or are answered `request_dropped`, as the
// merge decided (see `merged`).

#include <workers/detail/entry.hpp>
#include <workers/detail/entry_node.hpp>
#include <workers/detail/intake.hpp>
#include <workers/detail/leftovers.hpp>
#include <workers/detail/waiter.hpp>
#include <workers/merged.hpp>
#include <workers/message_error.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace workers::inline v0::detail {

template <class Def>
class dropbox_buffer {
 public:
  using entry_type = entry<Def>;
  using any = typename Def::request_variant;
  struct blocked_push {  // a dropbox never makes producers wait
    entry_type entry;
    waiter_ptr push;
  };
  using blocked_list = std::vector<blocked_push>;
  using leftovers = detail::leftovers<entry_type, blocked_list>;

  using node = entry_node<entry_type>;
  using pushed = typename intake<node>::pushed;

  dropbox_buffer(std::size_t /*capacity*/, bool /*counted*/) noexcept {}
  dropbox_buffer(const dropbox_buffer&) = delete;
  dropbox_buffer& operator=(const dropbox_buffer&) = delete;
  ~dropbox_buffer() {
    node::free_chain(merging_);
    node::free_chain(retired_);
    node::free_chain(intake_.seal());
  }

  // Producers: any thread, no lock. A dropbox has room for every put.

  static bool reserve() noexcept { return true; }
  static void unreserve() noexcept {}
  bool block(entry_type&, waiter_ptr*) noexcept { return false; }  // never: there is room
  // Links `n` (see intake::push): `first` if the loop runs and had no put
  // waiting (schedule a merge pass), `woke` if it was parked; on `sealed`
  // `n` still belongs to the caller.
  template <class BeforeWaking>
  pushed link(node* n, BeforeWaking&& before_waking) noexcept {
    return intake_.template push<true>(n, before_waking);
  }

  // The worker: its strand (a parked loop, a close).

  bool park() noexcept { return intake_.park(); }
  // Any thread: true for the one caller that must wake a parked loop.
  bool unpark() noexcept { return intake_.unpark(); }

  // The strand: whether the slot holds a request.
  bool has_slot() const noexcept { return slot() != nullptr; }
  // Any thread: whether puts wait to be merged.
  bool inbox_empty() const noexcept { return !intake_.peek(); }

  std::size_t size() const noexcept { return slot() ? 1 : 0; }
  // `f(entry, push time)`.
  template <class F>
  void for_each_pending(F&& f) const {
    if (slot()) f(*slot(), slot()->pushed);
  }
  // A close: the intake is sealed (later puts fail); the slot's request and
  // the puts not merged yet leave the buffer, and the request being handled
  // too if `everything` (the context is gone). Then `collect(everything)`,
  // outside the lock.
  void take_all(leftovers& out, bool everything = false) {
    auto& c = out.fill();
    node* const sealed = node::in_push_order(intake_.seal(), last_pushed_);
    // Reserved first: a vector that grows would destroy moved-from requests here.
    c.entries.reserve(2 + node::length(merging_) + node::length(sealed));
    if (everything && cells_[taken_]) c.entries.push_back(std::move(*cells_[taken_]));
    if (cells_[slot_]) {
      c.entries.push_back(std::move(*cells_[slot_]));
      std::swap(slot_, spare_);  // the slot is the empty spare now
    }
    for (node* p = merging_; p; p = p->next) c.entries.push_back(std::move(p->entry));
    for (node* p = sealed; p; p = p->next) c.entries.push_back(std::move(p->entry));
    retire(std::exchange(merging_, nullptr));
    retire(sealed);
  }

  // Worker side: the strand.

  // Folds the waiting puts into the slot, oldest first, with
  // `merge(any&&, const any*) -> merged<any>`. If a merge throws, its put's
  // caller gets the exception and it propagates; the later puts stay for the
  // close to answer.
  template <class Merge>
  void merge_inbox(std::mutex& producers, Merge&& merge) {
    merging_ = node::in_push_order(intake_.take(), last_pushed_);
    node* merged_ones = nullptr;  // their moved-from entries, freed at once
    struct free_on_exit {
      node*& chain;
      ~free_on_exit() { node::free_chain(chain); }
    } freed{merged_ones};
    try {
      while (merging_) {
        node* const n = std::exchange(merging_, merging_->next);
        n->next = std::exchange(merged_ones, n);
        merge_one(producers, std::move(n->entry), merge);
      }
    } catch (...) {
      publish(producers);
      throw;
    }
    publish(producers);
  }

  // The slot's request, valid until the next call; null, after `on_empty()`
  // under the producers' lock, if there is none. Then `collect()`, outside the
  // lock, destroys the request handled before.
  template <class OnRotate, class OnEmpty>
  entry_type* next(std::mutex& producers, leftovers& /*out*/, const OnRotate& on_rotate,
                   const OnEmpty& on_empty) {
    std::lock_guard lock(producers);
    on_rotate();
    if (!cells_[slot_]) {
      on_empty();
      return nullptr;
    }
    const auto handled = taken_;
    taken_ = slot_;
    slot_ = spare_;
    spare_ = handled;
    return &*cells_[taken_];
  }
  // Destroys what left its cell (the spare; also the request handled last if
  // `everything`), outside the lock.
  void collect(bool everything = false) {
    cells_[spare_].reset();
    if (everything) cells_[taken_].reset();
    node::free_chain(std::exchange(retired_, nullptr));
  }

 private:
  struct dropped {
    std::size_t type;
    waiter_ptr callers;
  };

  // Hands a chain to `collect()`.
  void retire(node* chain) noexcept {
    if (!chain) return;
    node* tail = chain;
    while (tail->next) tail = tail->next;
    tail->next = std::exchange(retired_, chain);
  }

  // Whether callers of alternative `type` can share one request (they each get a copy of its
  // result).
  static bool shareable(std::size_t type) {
    return with_alternative<any>(
        type, []<class R>() { return std::is_copy_constructible_v<reply_result<R>>; });
  }

  // Adds `callers` of a request of alternative `type` to `chain`, which waits on
  // alternative `to`, if they may follow it; otherwise they are dropped.
  static void follow_or_drop(waiter_ptr callers, std::size_t type, bool wanted, std::size_t to,
                             waiter_ptr& chain, std::vector<dropped>& out) {
    if (!callers) return;
    if (wanted && type == to && (!chain || shareable(to))) {
      if (chain)
        chain->append(std::move(callers));
      else
        chain = std::move(callers);
      return;
    }
    out.push_back({type, std::move(callers)});
  }

  entry_type* slot() noexcept { return cells_[slot_] ? &*cells_[slot_] : nullptr; }
  const entry_type* slot() const noexcept { return cells_[slot_] ? &*cells_[slot_] : nullptr; }

  // During a merge pass the slot's next value is staged in the spare cell,
  // which nobody else reads, and published once at the end of the pass: one
  // lock per pass, not one per put.
  std::optional<entry_type>& staged_slot() noexcept {
    return staged_ ? cells_[spare_] : cells_[slot_];
  }
  void publish(std::mutex& producers) {
    if (!staged_) return;
    {
      std::lock_guard lock(producers);
      std::swap(slot_, spare_);
    }
    staged_ = false;
    collect();  // the request that left the slot, if any
  }

  template <class Merge>
  void merge_one(std::mutex& producers, entry_type in, Merge& merge) {
    const std::size_t in_type = in.request.index();
    std::optional<entry_type>& cell = staged_slot();
    entry_type* held = cell ? &*cell : nullptr;
    const any* pending = held ? &held->request : nullptr;
    std::optional<merged<any>> m;
    try {
      m.emplace(merge(std::move(in.request), pending));
    } catch (...) {
      answer_error<Def>(in_type, std::move(in.reply), handler_exception{std::current_exception()});
      throw;
    }

    std::vector<dropped> out;
    switch (m->what()) {
      case merged<any>::kind::keep_pending:
        if (!held) {
          out.push_back({in_type, std::move(in.reply)});  // nothing to keep
        } else if (in.reply) {
          // The slot's own callers stay. Changing the published slot takes the lock.
          waiter_ptr chain = std::move(held->reply);
          follow_or_drop(std::move(in.reply), in_type, follows(m->followers(), follow::incoming),
                         held->request.index(), chain, out);
          std::unique_lock<std::mutex> lock;
          if (!staged_) lock = std::unique_lock(producers);
          held->reply = std::move(chain);
        }
        break;
      case merged<any>::kind::empty:
        out.push_back({in_type, std::move(in.reply)});
        if (held) {
          out.push_back({held->request.index(), std::move(held->reply)});
          if (staged_) cells_[spare_].reset();
          staged_ = true;  // the spare, empty, is the slot to be
        }
        break;
      case merged<any>::kind::replace: {
        // The slot has waited since its first put: keep that time.
        const auto pushed = held ? held->pushed : in.pushed;
        const std::size_t held_type = held ? held->request.index() : 0;
        waiter_ptr held_callers = held ? std::move(held->reply) : waiter_ptr();
        // Built in the spare cell (the staged request, if any, is replaced in place).
        auto& next = cells_[spare_].emplace(std::move(m->request()), pushed);
        staged_ = true;
        const std::size_t to = next.request.index();
        follow_or_drop(std::move(held_callers), held_type, follows(m->followers(), follow::pending),
                       to, next.reply, out);
        follow_or_drop(std::move(in.reply), in_type, follows(m->followers(), follow::incoming), to,
                       next.reply, out);
        break;
      }
    }
    for (auto& d : out) answer_error<Def>(d.type, std::move(d.callers), request_dropped{});
  }

  // As in queue_buffer: the intake's word at the end, at least 56 bytes past
  // what the worker writes for each put it merges (the cells and their
  // roles), so that a producer's CAS does not steal that line.
  std::optional<entry_type> cells_[3];
  // The cells' roles: changed under the lock, on the strand.
  std::uint8_t slot_ = 0, taken_ = 1, spare_ = 2;
  bool staged_ = false;              // strand only: the spare holds the slot to be (see publish)
  node* merging_ = nullptr;          // strand only: taken puts not merged yet
  node* retired_ = nullptr;          // left by a close, until collected
  clock::time_point last_pushed_{};  // the push time of the last put taken
  [[maybe_unused]] unsigned char gap_[32];
  intake<node> intake_;
};

}  // namespace workers::inline v0::detail

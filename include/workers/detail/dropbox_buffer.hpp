#pragma once

// The single slot behind dropbox workers. Producers only append their put to
// `inbox_` under the producers' lock; the user's merge then folds each put into
// the slot on the worker's strand (it may read the worker's state), outside
// every lock (it may call introspection). The slot itself is written under
// the lock, so introspection from any thread sees it whole. As in the queue,
// no request is destroyed under the lock: three cells rotate (the slot, the
// request being handled, and a spare that is empty but between a change and
// the next `collect()`); under the lock only their roles change, and what
// leaves a cell is destroyed by `collect()`, outside it.
//
// A request leaving the slot unhandled takes its callers with it: they follow
// the request that replaces it, or are answered `request_dropped`, as the
// merge decided (see `merged`).

#include <workers/detail/entry.hpp>
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

  dropbox_buffer(std::size_t /*capacity*/, bool /*counted*/) {}

  // Under the producers' lock.

  void push(entry_type&& e, leftovers& out) {
    make_room(out);
    inbox_.push_back(std::move(e));
  }
  // A request without a caller, built in place.
  template <class R>
  void emplace(R&& request, clock::time_point pushed, leftovers& out) {
    make_room(out);
    inbox_.emplace_back(std::forward<R>(request), pushed);
  }
  // Whether the worker has something to do: a put to merge or a request to take.
  bool incoming_empty() const noexcept { return inbox_.empty() && !slot(); }
  bool inbox_empty() const noexcept { return inbox_.empty(); }

  std::size_t size() const noexcept { return slot() ? 1 : 0; }
  // `f(entry, push time)`.
  template <class F>
  void for_each_pending(F&& f) const {
    if (slot()) f(*slot(), slot()->pushed);
  }
  // A close: the slot's request and the puts not merged yet leave the buffer,
  // and the request being handled too if `everything` (the context is gone).
  // Then `collect(everything)`, outside the lock.
  void take_all(leftovers& out, bool everything = false) {
    auto& c = out.fill();
    if (everything && cells_[taken_]) c.entries.push_back(std::move(*cells_[taken_]));
    if (cells_[slot_]) {
      c.entries.push_back(std::move(*cells_[slot_]));
      std::swap(slot_, spare_);  // the slot is the empty spare now
    }
    for (auto& e : inbox_) c.entries.push_back(std::move(e));
    c.storage.push_back(std::move(inbox_));
    inbox_.clear();
  }

  // Worker side: the strand.

  // Folds the waiting puts into the slot, oldest first, with
  // `merge(any&&, const any*) -> merged<any>`. If a merge throws, its put's
  // caller gets the exception and it propagates; later puts go back to the inbox.
  template <class Merge>
  void merge_inbox(std::mutex& producers, Merge&& merge) {
    {
      std::lock_guard lock(producers);
      merging_.swap(inbox_);
    }
    for (auto it = merging_.begin(); it != merging_.end(); ++it) {
      try {
        merge_one(producers, std::move(*it), merge);
      } catch (...) {
        std::vector<entry_type> later;
        {
          std::lock_guard lock(producers);
          later.swap(inbox_);
          inbox_.reserve(static_cast<std::size_t>(merging_.end() - it - 1) + later.size());
          for (auto rest = std::next(it); rest != merging_.end(); ++rest)
            inbox_.push_back(std::move(*rest));
          for (auto& e : later) inbox_.push_back(std::move(e));
        }
        merging_.clear();
        throw;
      }
    }
    merging_.clear();
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
  }

 private:
  struct dropped {
    std::size_t type;
    waiter_ptr callers;
  };

  void make_room(leftovers& out) {
    if (inbox_.size() < inbox_.capacity()) return;
    std::vector<entry_type> bigger;
    bigger.reserve(inbox_.capacity() < 4 ? 4 : 2 * inbox_.capacity());
    for (auto& e : inbox_) bigger.push_back(std::move(e));
    inbox_.swap(bigger);
    if (bigger.capacity() != 0) out.fill().storage.push_back(std::move(bigger));
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

  template <class Merge>
  void merge_one(std::mutex& producers, entry_type in, Merge& merge) {
    const std::size_t in_type = in.request.index();
    entry_type* held = slot();
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
        if (held) {
          waiter_ptr chain = std::move(held->reply);
          follow_or_drop(std::move(in.reply), in_type, follows(m->followers(), follow::incoming),
                         held->request.index(), chain, out);
          std::lock_guard lock(producers);
          held->reply = std::move(chain);  // the slot's own callers stay
          break;
        }
        out.push_back({in_type, std::move(in.reply)});  // nothing to keep
        break;
      case merged<any>::kind::empty:
        out.push_back({in_type, std::move(in.reply)});
        if (held) {
          out.push_back({held->request.index(), std::move(held->reply)});
          std::lock_guard lock(producers);
          std::swap(slot_, spare_);  // the slot is the empty spare now
        }
        break;
      case merged<any>::kind::replace: {
        // The slot has waited since its first put: keep that time. The new
        // request is built in the spare cell, which nobody else reads.
        auto& next =
            cells_[spare_].emplace(std::move(m->request()), held ? held->pushed : in.pushed);
        const std::size_t to = next.request.index();
        if (held)
          follow_or_drop(std::move(held->reply), held->request.index(),
                         follows(m->followers(), follow::pending), to, next.reply, out);
        follow_or_drop(std::move(in.reply), in_type, follows(m->followers(), follow::incoming), to,
                       next.reply, out);
        std::lock_guard lock(producers);
        std::swap(slot_, spare_);
        break;
      }
    }
    collect();  // the request that left the slot, if any
    for (auto& d : out) answer_error<Def>(d.type, std::move(d.callers), request_dropped{});
  }

  std::vector<entry_type> inbox_;    // producers' lock
  std::vector<entry_type> merging_;  // strand only: the puts being merged
  std::optional<entry_type> cells_[3];
  // The cells' roles: changed under the lock, on the strand.
  std::uint8_t slot_ = 0, taken_ = 1, spare_ = 2;
};

}  // namespace workers::inline v0::detail

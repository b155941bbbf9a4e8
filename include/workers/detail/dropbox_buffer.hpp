#pragma once

// The single slot behind dropbox workers. Producers only append their put to
// `inbox_` under the producers' lock; the user's merge then folds each put into
// the slot on the worker's strand (it may read the worker's state), outside
// every lock (it may call introspection). The slot itself is written under
// the lock, so introspection from any thread sees it whole. As in the queue,
// nothing is destroyed under the lock: what leaves it goes out in `leftovers`.
//
// A request leaving the slot unhandled takes its callers with it: they follow
// the request that replaces it, or are answered `request_dropped`, as the
// merge decided (see `merged`).

#include <workers/detail/entry.hpp>
#include <workers/detail/waiter.hpp>
#include <workers/merged.hpp>
#include <workers/message_error.hpp>

#include <cstddef>
#include <exception>
#include <iterator>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace workers::detail {

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
  struct leftovers {
    std::vector<entry_type> entries;  // pending requests taken out by a close
    blocked_list blocked;
    std::vector<std::vector<entry_type>> storage;
    std::vector<waiter_ptr> admitted;
    std::optional<entry_type> handled;  // the request handled last
  };

  explicit dropbox_buffer(std::size_t /*capacity*/) {}

  // ---- under the producers' lock ----

  bool must_wait() const noexcept { return false; }
  void push(entry_type&& e, leftovers& out) {
    make_room(out);
    inbox_.push_back(std::move(e));
  }
  // A request without a caller, built in place.
  template <class R>
  void emplace(R&& request, clock::time_point pushed, leftovers& out) {
    make_room(out);
    emplace_entry(inbox_, std::forward<R>(request), pushed);
  }
  bool block(entry_type&, waiter_ptr*) noexcept { return false; }
  // Whether the worker has something to do: a put to merge or a request to take.
  bool incoming_empty() const noexcept { return inbox_.empty() && !slot_; }
  bool inbox_empty() const noexcept { return inbox_.empty(); }

  std::size_t size() const noexcept { return slot_ ? 1 : 0; }
  template <class F>
  void for_each_pending(F&& f) const {
    if (slot_) f(*slot_);
  }
  // A close: the slot's request and the puts not merged yet leave the buffer,
  // and the request being handled too if `everything` (the context is gone).
  void take_all(leftovers& out, bool everything = false) {
    if (everything) {
      if (taken_) out.entries.push_back(std::move(*taken_));
      taken_.reset();
    }
    if (slot_) out.entries.push_back(std::move(*slot_));
    slot_.reset();
    for (auto& e : inbox_) out.entries.push_back(std::move(e));
    out.storage.push_back(std::move(inbox_));
    inbox_.clear();
  }

  // ---- worker side: the strand ----

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
  // under the producers' lock, if there is none. The request handled before
  // leaves in `out`.
  template <class OnRotate, class OnEmpty>
  entry_type* next(std::mutex& producers, leftovers& out, const OnRotate& on_rotate,
                   const OnEmpty& on_empty) {
    std::lock_guard lock(producers);
    on_rotate();
    out.handled = std::move(taken_);
    taken_.reset();
    if (!slot_) {
      on_empty();
      return nullptr;
    }
    taken_.emplace(std::move(*slot_));
    slot_.reset();
    return &*taken_;
  }
  void collect() noexcept {}

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
    if (bigger.capacity() != 0) out.storage.push_back(std::move(bigger));
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

  template <class Merge>
  void merge_one(std::mutex& producers, entry_type in, Merge& merge) {
    const std::size_t in_type = in.request.index();
    const any* pending = slot_ ? &slot_->request : nullptr;
    std::optional<merged<any>> m;
    try {
      m.emplace(merge(std::move(in.request), pending));
    } catch (...) {
      answer_error<Def>(in_type, std::move(in.reply), handler_exception{std::current_exception()});
      throw;
    }

    std::vector<dropped> out;
    std::optional<entry_type> gone;  // destroyed once the lock is released
    switch (m->what()) {
      case merged<any>::kind::keep_pending:
        if (slot_) {
          waiter_ptr chain = std::move(slot_->reply);
          follow_or_drop(std::move(in.reply), in_type, follows(m->followers(), follow::incoming),
                         slot_->request.index(), chain, out);
          std::lock_guard lock(producers);
          slot_->reply = std::move(chain);  // the slot's own callers stay
          break;
        }
        out.push_back({in_type, std::move(in.reply)});  // nothing to keep
        break;
      case merged<any>::kind::empty:
        out.push_back({in_type, std::move(in.reply)});
        if (slot_) {
          out.push_back({slot_->request.index(), std::move(slot_->reply)});
          std::lock_guard lock(producers);
          gone = std::move(slot_);
          slot_.reset();
        }
        break;
      case merged<any>::kind::replace: {
        // The slot has waited since its first put: keep that time.
        entry_type next{std::move(m->request()), slot_ ? slot_->pushed : in.pushed, {}};
        const std::size_t to = next.request.index();
        if (slot_)
          follow_or_drop(std::move(slot_->reply), slot_->request.index(),
                         follows(m->followers(), follow::pending), to, next.reply, out);
        follow_or_drop(std::move(in.reply), in_type, follows(m->followers(), follow::incoming), to,
                       next.reply, out);
        std::lock_guard lock(producers);
        gone = std::move(slot_);
        slot_.emplace(std::move(next));
        break;
      }
    }
    for (auto& d : out) answer_error<Def>(d.type, std::move(d.callers), request_dropped{});
  }

  std::vector<entry_type> inbox_;     // producers' lock
  std::vector<entry_type> merging_;   // strand only: the puts being merged
  std::optional<entry_type> slot_;    // written under the lock, on the strand
  std::optional<entry_type> taken_;   // strand only: the request being handled
};

}  // namespace workers::detail

#pragma once

// The single slot behind dropbox workers. Producers only append their put to
// `inbox_` under the producers' lock; the user's merge then folds each put into
// the slot on the worker's strand (it may read the worker's state), outside
// every lock (it may call introspection). The slot itself is written under
// both locks, so introspection from any thread sees it whole.
//
// A request leaving the slot unhandled takes its callers with it: they follow
// the request that replaces it, or are answered `request_dropped`, as the
// merge decided (see `merged`).

#include <workers/detail/entry.hpp>
#include <workers/detail/waiter.hpp>
#include <workers/merged.hpp>
#include <workers/message_error.hpp>

#include <cstddef>
#include <deque>
#include <exception>
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
    waiter_ref push;
  };
  using blocked_list = std::vector<blocked_push>;

  explicit dropbox_buffer(std::size_t /*capacity*/) {}

  // ---- under the producers' lock ----

  bool must_wait() const noexcept { return false; }
  void push(entry_type&& e) { inbox_.push_back(std::move(e)); }
  // A request without a caller, built in place.
  template <class R>
  void emplace(R&& request, clock::time_point pushed) {
    emplace_entry(inbox_, std::forward<R>(request), pushed);
  }
  bool block(entry_type&, waiter_ref*) noexcept { return false; }
  // Whether the worker has something to do: a put to merge or a request to take.
  bool incoming_empty() const noexcept { return inbox_.empty() && !slot_; }
  bool inbox_empty() const noexcept { return inbox_.empty(); }

  // ---- worker side: the strand ----

  // Folds the waiting puts into the slot, oldest first, with
  // `merge(any&&, const any*) -> merged<any>`. If a merge throws, its put's
  // caller gets the exception and it propagates; later puts stay in the inbox.
  template <class Merge>
  void merge_inbox(std::mutex& batch, std::mutex& producers, Merge&& merge) {
    for (;;) {
      entry_type in;
      {
        std::lock_guard lock(producers);
        if (inbox_.empty()) return;
        in = std::move(inbox_.front());
        inbox_.pop_front();
      }
      merge_one(batch, producers, std::move(in), merge);
    }
  }

  // Taking the slot's request destroys the previous one: under the batch lock.
  static constexpr bool next_moves_entries() noexcept { return true; }
  // Under the batch lock: the slot's request, valid until the next call.
  template <class OnEmpty>
  entry_type* next(std::mutex& /*producers*/, std::vector<waiter_ref>& /*admitted*/,
                   const OnEmpty& /*on_empty*/) {
    taken_.reset();
    if (!slot_) return nullptr;
    taken_.emplace(std::move(*slot_));
    slot_.reset();
    return &*taken_;
  }

  // ---- under both locks ----

  std::size_t size() const noexcept { return slot_ ? 1 : 0; }
  template <class F>
  void for_each_pending(F&& f) const {
    if (slot_) f(*slot_);
  }
  std::vector<entry_type> take_all(blocked_list& /*blocked*/) {
    std::vector<entry_type> out;
    if (slot_) out.push_back(std::move(*slot_));
    slot_.reset();
    for (auto& e : inbox_) out.push_back(std::move(e));
    inbox_.clear();
    return out;
  }

 private:
  struct dropped {
    std::size_t type;
    waiter_ref callers;
  };

  // Whether callers of alternative `type` can share one request (they each get a copy of its
  // result).
  static bool shareable(std::size_t type) {
    return with_alternative<any>(
        type, []<class R>() { return std::is_copy_constructible_v<reply_result<R>>; });
  }

  // Adds `callers` of a request of alternative `type` to `chain`, which waits on
  // alternative `to`, if they may follow it; otherwise they are dropped.
  static void follow_or_drop(waiter_ref callers, std::size_t type, bool wanted, std::size_t to,
                             waiter_ref& chain, std::vector<dropped>& out) {
    if (!callers) return;
    if (wanted && type == to && (!chain || shareable(to))) {
      if (chain)
        chain.get()->append(callers.release_ownership());
      else
        chain = std::move(callers);
      return;
    }
    out.push_back({type, std::move(callers)});
  }

  template <class Merge>
  void merge_one(std::mutex& batch, std::mutex& producers, entry_type in, Merge& merge) {
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
    std::optional<entry_type> gone;  // destroyed once the locks are released
    switch (m->what()) {
      case merged<any>::kind::keep_pending:
        if (slot_) {
          waiter_ref chain = std::move(slot_->reply);
          follow_or_drop(std::move(in.reply), in_type, follows(m->followers(), follow::incoming),
                         slot_->request.index(), chain, out);
          slot_->reply = std::move(chain);  // the slot's own callers stay
          break;
        }
        out.push_back({in_type, std::move(in.reply)});  // nothing to keep
        break;
      case merged<any>::kind::empty:
        out.push_back({in_type, std::move(in.reply)});
        if (slot_) {
          out.push_back({slot_->request.index(), std::move(slot_->reply)});
          std::scoped_lock lock(batch, producers);
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
        std::scoped_lock lock(batch, producers);
        gone = std::move(slot_);
        slot_.emplace(std::move(next));
        break;
      }
    }
    for (auto& d : out) answer_error<Def>(d.type, std::move(d.callers), request_dropped{});
  }

  std::deque<entry_type> inbox_;     // producers' lock
  std::optional<entry_type> slot_;   // written under both locks, on the strand
  std::optional<entry_type> taken_;  // strand only: the request being handled
};

}  // namespace workers::detail

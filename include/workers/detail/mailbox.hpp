#pragma once

// A worker's mailbox: where its requests wait, and how its loop waits for
// them. Each buffer kind is one mailbox (queue_mailbox.hpp, dropbox_mailbox.hpp,
// callback_mailbox.hpp) that owns its lock (if any), its park/wake protocol
// and its kind's behaviour; the worker (worker_core.hpp, worker_impl.hpp)
// calls the members below and has no buffer-kind branch. A new source of
// requests (a second lane, a broker) is a new mailbox.
//
// Producers, any thread:
//   push(e, may_wait, push_waiter) -> push_outcome
//                          enqueue `e` (stamped); a full bounded queue parks the
//                          producer when `may_wait` (with its push waiter, if
//                          any): `waiting`, else `full`; `sealed` once the close
//                          took the mailbox (`e` is then left to the caller)
//   push_now(request, stamp) -> push_outcome
//                          fire and forget, the entry built in place
//   release_place(out)     a caller of a queued request gave up (counted
//                          mailboxes): its place is free, producers waiting for
//                          room may come in (`out`: who came in, who had given up)
// The worker's loop, on its strand:
//   take(out) -> entry*    the next request to handle, its callers started;
//                          null if there is none. A request every caller gave
//                          up is skipped, in a kind that skips them (its books:
//                          `host.note_cancelled`); producers let in go to `out`
//   park() -> bool         nothing to take: the loop sleeps until a push wakes
//                          it; false if something came meanwhile
//   unpark() -> bool       any thread: ends a park; true for the one caller that
//                          must resume the loop (the mailbox's own pushes resume
//                          it through `host.wake()`)
//   parked()/launched()/closing()  the loop went to sleep / started / the close
//                          began: what the kind does then (a callback's reader)
//   yield()                the loop gives its strand up: the request in hand is done
//   release_current()      the request in hand is not the mailbox's (a control
//                          request) and is about to go: introspection lets it go
//   move_request(e, f)     calls `f(request&)` where it may move the request
//                          out (under the lock introspection reads it under)
// The close, on the strand (or where the context dies):
//   seal(out, everything)  pushes fail from now on; every pending request and
//                          waiting producer goes to `out` (and the request in
//                          hand too if `everything`: the context is gone)
//   collect(everything)    destroys, outside the lock, what the last step retired
//   ended()                the close ended: the requests handled go too
// Introspection, any thread:
//   size(), for_each_pending(f(entry, pushed)), current(f(entry))
// The kind:
//   skips_abandoned        a queued request whose callers all gave up is not
//                          handled (queues); a dropbox's is (other puts may be in it)
//   caller_policy          the cancellation a push-and-wait's caller may do
//
// What a mailbox asks of its worker (`Host`, worker_core.hpp): `hold()` (a
// reference that keeps it alive), `wake(held)` (resume the parked loop),
// `post_with(held, f)` (run `f` on the strand), `self()` (the handle, for the
// user's merge and read), `config()`, `closing()`, `takes_no_more()` (closing,
// not in a drain), `merges()` (running or restarting: a dropbox merges puts),
// `observing()`, `note_cancelled(e)` and `note_merged_away(...)` (the books), `crash(where, e)`,
// `end_of_source()`, `push_read(request)`, and a callback's strand and hook
// executor.

#include <workers/buffer_kind.hpp>
#include <workers/detail/config.hpp>

#include <cstdint>
#include <type_traits>

WORKERS_BEGIN_NAMESPACE
namespace detail {

// What became of a push: queued; waiting for room; refused for want of room
// (`full`) or because the close took the mailbox (`sealed`); or not queued
// because its caller had given up already (`abandoned`).
enum class push_outcome : std::uint8_t { queued, waiting, full, sealed, abandoned };

template <class Def, class Host, bool Bounded = false>
class queue_mailbox;
template <class Def, class Host>
class dropbox_mailbox;
template <class Def, class Host>
class callback_mailbox;

// The mailbox of each kind.
template <class Kind, class Def, class Host>
struct mailbox_for;
template <class Bound, class Def, class Host>
struct mailbox_for<queue<Bound>, Def, Host> {
  using type = queue_mailbox<Def, Host, std::is_same_v<Bound, bounded>>;
};
template <class Def, class Host>
struct mailbox_for<dropbox, Def, Host> {
  using type = dropbox_mailbox<Def, Host>;
};
template <class Def, class Host>
struct mailbox_for<callback, Def, Host> {
  using type = callback_mailbox<Def, Host>;
};

}  // namespace detail
WORKERS_END_NAMESPACE

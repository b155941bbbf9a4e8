#pragma once

/// @file
/// @brief Buffer kinds: the tags that parameterize worker handles and tables,
/// and the values given to `create_table`.

#include <workers/detail/config.hpp>

#include <cstddef>

WORKERS_BEGIN_NAMESPACE

/// @brief Tag: a queue that never blocks its producers (upstream's `infinite`).
struct infinite {};
/// @brief Tag: a queue of bounded capacity whose producers wait for room
/// (upstream's `bounded`).
struct bounded {};
/// @brief Tag of queue buffers: `queue<infinite>` or `queue<bounded>`
/// (upstream's `'a queue`).
template <class Bound>
struct queue {};

/// @brief Buffer kind value: an infinite FIFO queue (`create_table(infinite_queue{})`;
/// upstream's `Queue`).
struct infinite_queue {
  using tag = queue<infinite>;  ///< the handle's and the table's tag
};

/// @brief Buffer kind value: a FIFO queue of exactly `size` requests whose
/// producers wait (asynchronously) for room (`create_table(bounded_queue{64})`).
/// A size of 0 is rejected by `create_table` with `std::invalid_argument`.
/// Upstream's `Bounded {size}`, whose queue holds one request fewer.
struct bounded_queue {
  using tag = queue<bounded>;  ///< the handle's and the table's tag
  std::size_t size = 0;        ///< the capacity, in requests (at least 1)
};

/// @brief Tag: a single slot into which each put is merged (upstream's `dropbox`).
struct dropbox {};
/// @brief Tag: no buffer; the worker reads its next request from a source.
struct callback {};

/// @brief Buffer kind value: a dropbox whose puts go through `merge`
/// (`create_table(merging_dropbox{merge})`).
///
/// `merge(self, any_request incoming, const any_request* pending)` returns
/// `merged<any_request>`, `std::optional<any_request>` or `any_request`; it runs
/// on the worker's strand, between requests or while a handler is suspended,
/// so it may read the worker's state. See `put_request`. Upstream's
/// `Dropbox {merge}`.
template <class Merge>
struct merging_dropbox {
  using tag = dropbox;  ///< the handle's and the table's tag
  /// The merge function. The table keeps one copy for all its workers, which
  /// may call it on their strands at the same time.
  Merge merge;
};
/// @brief Deduces `Merge` from the function given.
template <class Merge>
merging_dropbox(Merge) -> merging_dropbox<Merge>;

/// @brief Buffer kind value: a worker that awaits `read(self)` for its next
/// request (`create_table(callback_source{read})`).
///
/// `read(self)` returns `std::optional<any_request>`, or an `asio::awaitable`
/// of it: a request, or none at the end of the source, after which the worker
/// closes normally. It runs on the worker's strand when the worker is ready
/// for its next request; an idle timeout does not cancel it, a close does
/// (terminal cancellation of what it awaits).
template <class Read>
struct callback_source {
  using tag = callback;  ///< the handle's and the table's tag
  /// The read function. The table keeps one copy for all its workers, which
  /// may call it on their strands at the same time.
  Read read;
};
/// @brief Deduces `Read` from the function given.
template <class Read>
callback_source(Read) -> callback_source<Read>;

namespace detail {
template <class Kind>
inline constexpr bool is_queue = false;
template <class Bound>
inline constexpr bool is_queue<queue<Bound>> = true;

}  // namespace detail

WORKERS_END_NAMESPACE

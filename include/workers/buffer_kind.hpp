#pragma once

/// @file
/// @brief Buffer kinds: the tags that parameterize worker handles and tables,
/// and the values given to `create_table`.

#include <cstddef>

namespace workers {

/// @brief Tag: a queue that never blocks its producers.
struct infinite {};
/// @brief Tag: a queue of bounded capacity whose producers wait for room.
struct bounded {};
/// @brief Tag of queue buffers: `queue<infinite>` or `queue<bounded>`.
template <class Bound>
struct queue {};

/// @brief Buffer kind value: an infinite FIFO queue (`create_table(infinite_queue{})`).
struct infinite_queue {
  using tag = queue<infinite>;
};

namespace detail {
template <class Kind>
inline constexpr bool is_queue = false;
template <class Bound>
inline constexpr bool is_queue<queue<Bound>> = true;
}  // namespace detail

}  // namespace workers

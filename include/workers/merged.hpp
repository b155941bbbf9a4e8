#pragma once

/// @file
/// @brief What a dropbox's `merge` decides: the slot's next content, and which
/// waiting callers follow it.

#include <workers/detail/config.hpp>

#include <concepts>
#include <cstdint>
#include <optional>
#include <utility>

WORKERS_BEGIN_NAMESPACE

/// @brief Whose waiting caller follows the request a merge leaves in the slot.
///
/// A caller of `put_request_and_wait` whose request leaves the slot unhandled
/// either *follows* the request that replaces it (and gets that request's
/// outcome) or is answered `request_dropped`. It can follow only a request of
/// its own type, whose result it expects; named for another type, it is dropped.
enum class follow : std::uint8_t {
  none = 0,      ///< every caller whose request leaves the slot is dropped
  incoming = 1,  ///< the caller of the request being put
  pending = 2,   ///< the callers of the request that was in the slot
  both = 3,      ///< both `incoming` and `pending`
};

/// @brief True if `set` names `who`.
constexpr bool follows(follow set, follow who) noexcept {
  return (static_cast<unsigned>(set) & static_cast<unsigned>(who)) != 0;
}

namespace detail {
template <class R, class Any>
concept converts_to = std::constructible_from<Any, R&&>;
}  // namespace detail

/// @brief The outcome of `merge(self, incoming, pending)` for a dropbox whose
/// requests are `Any` (the worker's `any_request`).
///
/// `merge` may also return `std::optional<Any>` (upstream's form: a request,
/// which the incoming caller follows, or none) or an `Any` (which it follows).
template <class Any>
class merged {
 public:
  /// @brief What the slot holds next.
  enum class kind : std::uint8_t {
    replace,       ///< `request()`
    keep_pending,  ///< the pending request, unchanged
    empty,         ///< nothing
  };

  /// @brief The slot holds `request`; the callers named by `followers` get its
  /// outcome, the others whose request leaves the slot get `request_dropped`.
  /// A request of one of the worker's types converts to `Any` here.
  template <detail::converts_to<Any> R>
  merged(R&& request, follow followers = follow::incoming)  // NOLINT: implicit by design
      : kind_(kind::replace),
        request_(std::in_place, std::forward<R>(request)),
        followers_(followers) {}

  /// @brief Upstream's form: `request` as above, or an empty slot if none.
  merged(std::optional<Any> request)  // NOLINT: implicit by design
      : kind_(request ? kind::replace : kind::empty),
        request_(std::move(request)),
        followers_(follow::incoming) {}

  /// @brief The pending request stays as it is, with its callers; the
  /// incoming one is discarded, its caller following the pending request if
  /// `followers` names `follow::incoming`, dropped otherwise.
  static merged keep_pending(follow followers = follow::none) {
    return merged(kind::keep_pending, followers);
  }
  /// @brief The slot empties: every caller of the incoming and pending requests is dropped.
  static merged empty() { return merged(kind::empty, follow::none); }

  /// @brief What the slot holds next.
  kind what() const noexcept { return kind_; }
  /// @brief Whose callers follow what the slot holds next.
  follow followers() const noexcept { return followers_; }
  /// @brief The request a `replace` leaves in the slot.
  Any& request() noexcept { return *request_; }

 private:
  merged(kind k, follow f) : kind_(k), followers_(f) {}

  kind kind_;
  std::optional<Any> request_;
  follow followers_;
};

WORKERS_END_NAMESPACE

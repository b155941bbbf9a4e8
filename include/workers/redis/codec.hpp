#pragma once

/// @file
/// @brief How requests become stream entries and back: `delivery` (what a
/// handler may read about the entry it handles) and `json_codec` (the default
/// codec, through Boost.JSON's `value_from`/`value_to`).
///
/// A codec for a group's request variant `A` is any object with
///  - `std::optional<A> decode(const fields& f, std::string& why) const`: the
///    request, or none with the reason in `why` (the entry is then
///    dead-lettered with that reason, never handled);
///  - `template <class R> fields encode(const R&) const` for the producer.

#include <workers/clock.hpp>
#include <workers/detail/config.hpp>
#include <workers/redis/connection.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>
#include <boost/mp11/algorithm.hpp>

#include <concepts>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

WORKERS_BEGIN_NAMESPACE
namespace redis {

/// @brief What a handler knows of the entry behind its request, so that it can
/// be idempotent: the library hands each entry over at least once, and a
/// redelivery carries the same `id` with a greater `count`.
///
/// A request type with a member `workers::redis::delivery delivery;` gets it
/// filled in before its handler runs.
struct delivery {
  std::string id;           ///< the entry's stream ID (`1700000000000-0`)
  std::uint64_t count = 1;  ///< its delivery count in the group (1: first delivery)
  /// When it was first delivered, on the wall clock of the consumer's
  /// `time_source`: the read that delivered it, for a first delivery; for a
  /// redelivery this process did not see before, the time its ID encodes (when
  /// it was added, a lower bound).
  clock::time_point first_delivered{};
  std::string trace;  ///< the `trace` field the producer gave (empty if none)
};

/// @brief Request types whose handlers see their `delivery`.
template <class R>
concept has_delivery = requires(R& r) {
  { r.delivery } -> std::same_as<delivery&>;
};

/// @brief The name an entry's `type` field gives for request type `R` with
/// `json_codec`: `R::wire_name` (a `std::string_view`-convertible constant).
template <class R>
concept wire_named = requires {
  {std::string_view(R::wire_name)};
};

/// @brief The default codec: an entry `type = R::wire_name, body = JSON of R`
/// (Boost.JSON's `value_from`/`value_to`, so `R` needs `tag_invoke` overloads
/// or a described struct; the `delivery` member is not encoded).
///
/// Decoding fails, with a message naming the field, on a missing `type` or
/// `body`, a `type` that names no request of the variant `A`, a `body` that is
/// not JSON, or one `value_to` refuses.
template <class A>
struct json_codec {
  /// @brief The fields of `r`.
  template <class R>
  fields encode(const R& r) const {
    static_assert(wire_named<R>,
                  "json_codec: each request type needs `static constexpr std::string_view "
                  "wire_name`, the name its entries carry in their `type` field");
    return {{"type", std::string(R::wire_name)},
            {"body", boost::json::serialize(boost::json::value_from(r))}};
  }

  /// @brief The request in `f`, or none with `why`.
  std::optional<A> decode(const fields& f, std::string& why) const {
    const std::string* type = nullptr;
    const std::string* body = nullptr;
    for (auto& [k, v] : f) {
      if (k == "type") type = &v;
      if (k == "body") body = &v;
    }
    if (!type || !body) {
      why = !type ? "no `type` field" : "no `body` field";
      return std::nullopt;
    }
    std::optional<A> out;
    boost::mp11::mp_for_each<boost::mp11::mp_transform<std::type_identity, A>>([&](auto t) {
      using R = typename decltype(t)::type;
      static_assert(wire_named<R>,
                    "json_codec: each request type needs `static constexpr std::string_view "
                    "wire_name`, the name its entries carry in their `type` field");
      if (out || why.size() || *type != R::wire_name) return;
      try {
        out.emplace(std::in_place_type<R>, boost::json::value_to<R>(boost::json::parse(*body)));
      } catch (const std::exception& e) {
        why = "cannot decode `body` as " + std::string(R::wire_name) + ": " + e.what();
      }
    });
    if (!out && why.empty()) why = "`type` " + *type + " names no request of the group";
    return out;
  }
};

}  // namespace redis
WORKERS_END_NAMESPACE

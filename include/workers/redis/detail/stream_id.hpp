#pragma once

// A stream ID (`1526985054069-0`): milliseconds and a sequence number, kept
// as two numbers where the consumer keys its deliveries (no string per ID).

#include <workers/detail/config.hpp>

#include <charconv>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

WORKERS_BEGIN_NAMESPACE
namespace redis {
namespace detail {

struct stream_id {
  std::uint64_t ms = 0;
  std::uint64_t seq = 0;
  auto operator<=>(const stream_id&) const = default;
  // Writes `ms-seq` at `out` (at least 41 bytes); returns the end.
  char* write(char* out) const {
    out = std::to_chars(out, out + 20, ms).ptr;
    *out++ = '-';
    return std::to_chars(out, out + 20, seq).ptr;
  }
  std::string str() const {
    char buf[48];
    return std::string(buf, write(buf));
  }
  // "-", "+", "0", "1526985054069-0", "1526985054069" (seq 0, or max for an end).
  static std::optional<stream_id> parse(std::string_view s, bool end = false) {
    if (s == "-") return stream_id{};
    if (s == "+") return stream_id{UINT64_MAX, UINT64_MAX};
    // Digits, '-', digits (one pass: every delivery's ID is parsed).
    stream_id id;
    std::uint64_t* part = &id.ms;
    bool digits = false;
    bool dash = false;
    for (char c : s) {
      if (c >= '0' && c <= '9') {
        *part = *part * 10 + std::uint64_t(c - '0');
        digits = true;
      } else if (c == '-' && !dash && digits) {
        dash = true;
        digits = false;
        part = &id.seq;
      } else {
        return std::nullopt;
      }
    }
    if (!digits) return std::nullopt;
    if (!dash && end) id.seq = UINT64_MAX;
    return id;
  }
};

}  // namespace detail
}  // namespace redis
WORKERS_END_NAMESPACE

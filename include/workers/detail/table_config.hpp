#pragma once

// What a table's workers share, fixed when the table is created: the buffer's
// configuration, where events go, whether workers keep metrics.

#include <workers/detail/buffer_config.hpp>
#include <workers/detail/event_route.hpp>

namespace workers::inline v0::detail {

template <class Def, class Kind>
struct table_config {
  buffer_config<Def, Kind> buffer;
  event_route events;
  bool metrics = false;
};

}  // namespace workers::inline v0::detail

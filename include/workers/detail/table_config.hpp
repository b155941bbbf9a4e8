#pragma once

// What a table's workers share, fixed when the table is created: the
// mailbox's configuration, where events go, whether workers keep metrics, and
// the clocks they read (none: the real ones).

#include <workers/detail/config.hpp>
#include <workers/detail/event_route.hpp>
#include <workers/detail/mailbox_config.hpp>
#include <workers/detail/restart_limits.hpp>
#include <workers/supervision.hpp>
#include <workers/time_source.hpp>

#include <memory>

WORKERS_BEGIN_NAMESPACE
namespace detail {

template <class Def, class Kind>
struct table_config {
  buffer_config<Def, Kind> buffer;
  event_route events;
  bool metrics = false;
  std::shared_ptr<time_source> clock;
  table_supervision supervision = {};
  // The limits the table's workers share under one_for_all or rest_for_one.
  std::shared_ptr<restart_limits> group_limits = {};
};

}  // namespace detail
WORKERS_END_NAMESPACE

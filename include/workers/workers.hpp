#pragma once

/// @file
/// @brief Umbrella header: every public header but the opt-in ones
/// (`<workers/format.hpp>`: fmt formatters for the library's types;
/// `<workers/sinks.hpp>`: the shipped event sinks; `<workers/json.hpp>`:
/// Boost.JSON conversions; `<workers/prometheus.hpp>`: the prometheus-cpp
/// adapter; `<workers/testing.hpp>`: the manual clock for tests).

/// @namespace workers
/// @brief Octez's workers (`Tezos_workers.Worker`) on Boost.Asio: named event
/// loops on strands that take typed requests from a buffer and handle them one
/// at a time. Everything is declared in the inline namespace `workers::v0`
/// (`WORKERS_VERSION_MAJOR`), so that copies of different major versions cannot
/// mix; code names it `workers::`.

#include <workers/buffer_kind.hpp>
#include <workers/canceler.hpp>
#include <workers/clock.hpp>
#include <workers/close_reason.hpp>
#include <workers/concepts.hpp>
#include <workers/dropbox.hpp>
#include <workers/error.hpp>
#include <workers/events.hpp>
#include <workers/group.hpp>
#include <workers/handlers.hpp>
#include <workers/introspection.hpp>
#include <workers/launch.hpp>
#include <workers/launch_options.hpp>
#include <workers/lifecycle_operations.hpp>
#include <workers/merged.hpp>
#include <workers/message_error.hpp>
#include <workers/metrics.hpp>
#include <workers/queue_operations.hpp>
#include <workers/shutdown_report.hpp>
#include <workers/sink.hpp>
#include <workers/state_access.hpp>
#include <workers/status.hpp>
#include <workers/supervision.hpp>
#include <workers/table.hpp>
#include <workers/table_shutdown.hpp>
#include <workers/time_source.hpp>
#include <workers/version.hpp>
#include <workers/worker.hpp>
#include <workers/worker_handle.hpp>

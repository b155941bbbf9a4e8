#pragma once

/// @file
/// @brief Umbrella header: every public header but the opt-in ones
/// (`<workers/format.hpp>`: fmt formatters for the library's types).

#include <workers/buffer_kind.hpp>
#include <workers/canceler.hpp>
#include <workers/clock.hpp>
#include <workers/close_reason.hpp>
#include <workers/concepts.hpp>
#include <workers/dropbox.hpp>
#include <workers/error.hpp>
#include <workers/group.hpp>
#include <workers/handlers.hpp>
#include <workers/launch.hpp>
#include <workers/merged.hpp>
#include <workers/message_error.hpp>
#include <workers/status.hpp>
#include <workers/table.hpp>
#include <workers/version.hpp>
#include <workers/worker.hpp>

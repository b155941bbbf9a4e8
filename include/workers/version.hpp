#pragma once

/// @file
/// @brief The library's version, as macros and as a constant.

#define WORKERS_VERSION_MAJOR 0
#define WORKERS_VERSION_MINOR 1
#define WORKERS_VERSION_PATCH 0

namespace workers {
/// @brief The version as one number: major * 10000 + minor * 100 + patch.
inline constexpr int version =
    WORKERS_VERSION_MAJOR * 10000 + WORKERS_VERSION_MINOR * 100 + WORKERS_VERSION_PATCH;
}  // namespace workers

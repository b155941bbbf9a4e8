#pragma once

/// @file
/// @brief The library's version, as macros and as a constant. CMake's
/// `project(VERSION)` reads it from here.

#include <workers/detail/config.hpp>

/// @brief Major version: the inline namespace `workers::v<major>` follows it,
/// so that two copies of different major versions cannot mix silently.
#define WORKERS_VERSION_MAJOR 0
/// @brief Minor version.
#define WORKERS_VERSION_MINOR 1
/// @brief Patch version.
#define WORKERS_VERSION_PATCH 0
/// @brief The version as one number: major * 10000 + minor * 100 + patch.
#define WORKERS_VERSION \
  (WORKERS_VERSION_MAJOR * 10000 + WORKERS_VERSION_MINOR * 100 + WORKERS_VERSION_PATCH)

WORKERS_BEGIN_NAMESPACE
/// @brief The version as one number: `WORKERS_VERSION`.
inline constexpr int version = WORKERS_VERSION;
WORKERS_END_NAMESPACE

#pragma once

/// @file
/// @brief The worker handle and every operation on it: `<workers/worker_handle.hpp>`
/// (the handle), `<workers/queue_operations.hpp>` (pushes),
/// `<workers/dropbox.hpp>` (puts), `<workers/lifecycle_operations.hpp>`
/// (shutdown and waiting for the end), `<workers/state_access.hpp>` (the
/// state) and `<workers/introspection.hpp>` (status, requests, metrics).

#include <workers/dropbox.hpp>
#include <workers/introspection.hpp>
#include <workers/lifecycle_operations.hpp>
#include <workers/queue_operations.hpp>
#include <workers/state_access.hpp>
#include <workers/worker_handle.hpp>

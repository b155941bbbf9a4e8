#pragma once

/// @file
/// @brief `make_group<Name, Request>::make_worker<Types>` and `make_single<Name, Request, Types>`.

#include <workers/buffer_kind.hpp>
#include <workers/concepts.hpp>
#include <workers/detail/group_def.hpp>
#include <workers/table.hpp>
#include <workers/worker.hpp>

#include <fmt/format.h>

#include <memory>
#include <stdexcept>
#include <type_traits>

namespace workers {

/// @brief A group: workers that share a base name and a request set (upstream's `MakeGroup`).
template <name_parameter Name, request_parameter Request>
struct make_group {
  using name = Name;
  using request = Request;

  /// @brief The worker type of this group for these `Types` (upstream's `MakeWorker`).
  template <types_parameter Types>
  struct make_worker {
    using definition = detail::group_def<Name, Request, Types>;
    using name_type = typename definition::name_type;
    using state_type = typename definition::state_type;
    using parameters_type = typename definition::parameters_type;

    /// @brief The handle of a worker with buffer kind tag `Kind`.
    template <class Kind>
    using worker = workers::worker<definition, Kind>;
    /// @brief A table of workers with buffer kind tag `Kind`.
    template <class Kind>
    using table = workers::table<definition, Kind>;

    /// @brief Creates an empty table for this buffer kind.
    /// @throws std::invalid_argument for a `bounded_queue` of size 0.
    template <class BufferKind>
    static table<typename BufferKind::tag> create_table(BufferKind kind) {
      if constexpr (std::is_same_v<BufferKind, bounded_queue>)
        if (kind.size < 1)
          throw std::invalid_argument(
              fmt::format("workers: a bounded queue needs a size of at least 1 (table of {})",
                          definition::base_name()));
      return table<typename BufferKind::tag>(
          std::make_shared<detail::table_state<definition, typename BufferKind::tag>>(
              std::move(kind)));
    }
  };
};

/// @brief A group with a single worker type (upstream's `MakeSingle`).
template <name_parameter Name, request_parameter Request, types_parameter Types>
struct make_single : make_group<Name, Request>::template make_worker<Types> {};

}  // namespace workers

#pragma once

/// @file
/// @brief `make_group<Name, Request>::make_worker<Types>` and `make_single<Name, Request, Types>`.

#include <workers/buffer_kind.hpp>
#include <workers/concepts.hpp>
#include <workers/detail/access.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/group_def.hpp>
#include <workers/detail/mailbox_config.hpp>
#include <workers/detail/parameter_checks.hpp>
#include <workers/detail/table_config.hpp>
#include <workers/detail/table_state.hpp>
#include <workers/table.hpp>
#include <workers/worker.hpp>

#include <memory>
#include <type_traits>
#include <utility>

WORKERS_BEGIN_NAMESPACE

/// @brief A group: workers that share a base name and a request set (upstream's `MakeGroup`).
///
/// `Name` must model `name_parameter` and `Request` `request_parameter`, and
/// `make_worker`'s `Types` `types_parameter`: each unmet requirement is one
/// compile error that names the parameter's type and says what it lacks.
template <class Name, class Request>
struct make_group : private detail::name_parameter_check<Name>,
                    private detail::request_parameter_check<Request> {
 private:
  static constexpr bool valid_ =
      detail::name_parameter_ok<Name> && detail::request_parameter_ok<Request>;

 public:
  using name = Name;        ///< the `Name` parameter (upstream's `Name`)
  using request = Request;  ///< the `Request` parameter (upstream's `Request`)

  /// @brief The worker type of this group for these `Types` (upstream's `MakeWorker`).
  template <class Types>
  struct make_worker : private detail::types_parameter_check<Types> {
    /// @brief The group's definition: the `Def` parameter of `worker` and `table`.
    using definition =
        std::conditional_t<valid_ && detail::types_parameter_ok<Types>,
                           detail::group_def<Name, Request, Types>, detail::invalid_group_def>;
    using name_type = typename definition::name_type;              ///< `Name::type`
    using state_type = typename definition::state_type;            ///< `Types::state_type`
    using parameters_type = typename definition::parameters_type;  ///< `Types::parameters_type`

    /// @brief The handle of a worker with buffer kind tag `Kind`.
    template <class Kind>
    using worker = workers::worker<definition, Kind>;
    /// @brief A table of workers with buffer kind tag `Kind`.
    template <class Kind>
    using table = workers::table<definition, Kind>;

    /// @brief A request of any of the group's types (`std::variant` of them),
    /// as a dropbox's merge and a callback's read see them.
    using any_request = typename definition::request_variant;

    /// @brief Creates an empty table for this buffer kind: `infinite_queue{}`,
    /// `bounded_queue{size}`, `merging_dropbox{merge}` or `callback_source{read}`,
    /// whose workers send their events to `options.sink` (the process-wide
    /// default if empty) and keep metrics if `options.metrics` (upstream's
    /// `create_table`). Any thread.
    /// @throws std::invalid_argument for a `bounded_queue` of size 0.
    template <class BufferKind>
    static table<typename BufferKind::tag> create_table(BufferKind kind,
                                                        table_options options = {}) {
      using tag = typename BufferKind::tag;
      return detail::access::make_table<table<tag>>(
          std::make_shared<detail::table_state<definition, tag>>(
              detail::table_config<definition, tag>{
                  detail::make_config<definition>(std::move(kind)),
                  detail::event_route(std::move(options.sink)), options.metrics,
                  std::move(options.clock), options.supervision,
                  detail::group_limits_of(options.supervision)}));
    }
  };
};

/// @brief A group with a single worker type (upstream's `MakeSingle`).
template <class Name, class Request, class Types>
struct make_single : make_group<Name, Request>::template make_worker<Types> {};

WORKERS_END_NAMESPACE

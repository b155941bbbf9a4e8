#pragma once

// The one decision between a typed io_context executor and the type-erased
// one: an any_io_executor that wraps an io_context's executor is used through
// the typed one (its strand, its outstanding work), which does not allocate.

#include <workers/detail/config.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>

WORKERS_BEGIN_NAMESPACE
namespace detail {

// The io_context executor `ex` wraps, if it wraps one; null otherwise.
inline const boost::asio::io_context::executor_type* typed_io_executor(
    const boost::asio::any_io_executor& ex) noexcept {
  return ex.target<boost::asio::io_context::executor_type>();
}

}  // namespace detail
WORKERS_END_NAMESPACE

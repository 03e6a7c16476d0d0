#pragma once
// The asio spellings vsr uses, in one place. asio 1.22 keeps as_tuple, channels and the
// awaitable operators in asio::experimental; code elsewhere names them through here.

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/channel.hpp>

namespace vsr::net {

using asio::awaitable;
using asio::ip::tcp;

/// Completion token for coroutines that take errors as values: `auto [ec, n] = co_await
/// sock.async_read_some(buf, use_nothrow);`.
inline constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);

/// A bounded single-threaded channel carrying T (capacity given at construction).
template <class T>
using Channel = asio::experimental::channel<void(asio::error_code, T)>;

}  // namespace vsr::net

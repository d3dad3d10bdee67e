//! The test kit's `redis-server`, and a plain connection to it for
//! inspecting keys.

pub(crate) use limiter_testkit::RedisServer as Server;

/// A plain connection to `server`, for reading keys and their expiry.
pub(crate) async fn conn(server: &Server) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap()
}

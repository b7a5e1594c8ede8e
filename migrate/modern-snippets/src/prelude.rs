// What every modern snippet of the API map sees: these `use`s, and the async
// function's argument `addr: SocketAddr` (127.0.0.1:0). Everything else a snippet
// names by its full path or imports itself.
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::{future, stream, FutureExt, SinkExt, StreamExt, TryFutureExt, TryStreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

// What every legacy snippet of the API map sees: these `use`s, and the function's
// two arguments `handle: &Handle` (the `Core`'s) and `addr: SocketAddr`
// (127.0.0.1:0). Everything else a snippet names by its full path or imports itself.
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::{future, stream, Async, AsyncSink, Future, Poll, Sink, Stream};
use tokio_core::net::{TcpListener, TcpStream, UdpSocket};
use tokio_core::reactor::{Core, Handle};
use tokio_io::{AsyncRead, AsyncWrite};

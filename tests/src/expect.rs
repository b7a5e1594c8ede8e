//! Documented differences, as data: which checks a program is expected to fail, per
//! flavor, and why. A check listed here that passes is an unexpected result (`xpass`),
//! so a program that silently changes behaviour is caught either way.

use harness::Flavor;

/// (program, flavor, check, why). Empty for families whose two eras behave the same.
pub const EXPECTED_FAILURES: &[(&str, Flavor, &str, &str)] = &[
    // ident-incorrect is wrong on purpose (the talk's first, wrongly-async server):
    // these rows are the lesson, and a pass would mean the program lost it.
    (
        "ident-incorrect",
        Flavor::Legacy,
        "split-query",
        "std read_line inside poll on a non-blocking socket: WouldBlock in the middle \
         of a line is taken as an error and the query goes unanswered",
    ),
    (
        "ident-incorrect",
        Flavor::Modern,
        "split-query",
        "a blocking std read returns what has arrived, and the code takes it as whole \
         lines: half a query is answered as a malformed one",
    ),
    (
        "ident-incorrect",
        Flavor::Modern,
        "stuck-client-starves-none",
        "a blocking std read inside a task holds the runtime's only thread: while one \
         peer is silent mid-query, no other client is accepted or served",
    ),
    (
        "ident-incorrect",
        Flavor::Modern,
        "other-client-during-lookup",
        "a blocking std read inside a task holds the runtime's only thread between A's \
         queries: B is not served at all while A's connection stays open, not even \
         after A's lookup",
    ),
    (
        "ident-incorrect",
        Flavor::Modern,
        "sigterm-open-connection",
        "the signal is handled on the thread a blocking std read holds: the server \
         cannot stop until the open connection sends, closes or idles out",
    ),
    // The fault checks (checks/faults.rs): ident-incorrect's accept loop pauses and
    // keeps its bound like the others, but its reads are what they are.
    (
        "ident-incorrect",
        Flavor::Legacy,
        "slow-1000",
        "half a line is an error here: a slow peer is dropped at its first partial read \
         (`error: Resource temporarily unavailable`), not by the idle timeout",
    ),
    (
        "ident-incorrect",
        Flavor::Modern,
        "fd-exhaustion",
        "a blocking std read inside a task holds the runtime's only thread: the first \
         client served keeps it, and those accepted with it wait unanswered",
    ),
    (
        "ident-incorrect",
        Flavor::Modern,
        "slow-1000",
        "a blocking std read holds the runtime's only thread, and its socket read \
         timeout restarts with every byte: one slow peer holds the whole server, and \
         the others are not even accepted",
    ),
    (
        "ident-incorrect",
        Flavor::Modern,
        "max-connections",
        "a blocking std read inside a task holds the runtime's only thread: of three \
         open connections, only the first is served",
    ),
    (
        "ident-incorrect",
        Flavor::Legacy,
        "unread-replies",
        "std write_all on a non-blocking socket (the talk's second point): once the \
         replies fill the socket buffer, WouldBlock comes back as an error and the \
         connection is dropped, its replies lost",
    ),
    (
        "ident-incorrect",
        Flavor::Modern,
        "unread-replies",
        "a blocking std write to a peer that reads nothing holds the runtime's only \
         thread: no other client is served until the write times out",
    ),
    // udp-waiters, legacy: the failure the intrusive waiter list of tokio 1 removed.
    // A pass would mean tokio-core woke more than one task per direction.
    (
        "udp-waiters",
        Flavor::Legacy,
        "burst-spread-over-tasks",
        "tokio-reactor 0.1 keeps one task per direction of a socket: only the last task \
         to find the socket empty is registered, so one task reads every datagram and \
         the others are never woken again",
    ),
    (
        "udp-waiters",
        Flavor::Legacy,
        "no-datagram-waits-while-a-task-sleeps",
        "while the one registered task works on a datagram, the read slot is empty (the \
         reactor took the task out to wake it) and the other tasks lost their \
         registration: the next datagrams wait in the socket buffer, one per --work-ms",
    ),
    // The migration ladder's pitfalls: a step done in the wrong order, kept as a
    // program of its own beside the step it gets wrong (bridge/). These rows are what
    // goes wrong, and a pass would mean the program no longer shows it.
    (
        "echo-mpsc-old-signals",
        Flavor::Bridge,
        "payloads-ipv4",
        OLD_SIGNALS,
    ),
    (
        "echo-mpsc-old-signals",
        Flavor::Bridge,
        "payloads-ipv6",
        OLD_SIGNALS,
    ),
    (
        "echo-mpsc-old-signals",
        Flavor::Bridge,
        "concurrent-clients",
        OLD_SIGNALS,
    ),
    (
        "echo-mpsc-old-signals",
        Flavor::Bridge,
        "burst-past-queue",
        OLD_SIGNALS,
    ),
    (
        "echo-mpsc-old-signals",
        Flavor::Bridge,
        "reads-while-writes-pending",
        OLD_SIGNALS,
    ),
    (
        "echo-mpsc-old-signals",
        Flavor::Bridge,
        "sigterm",
        OLD_SIGNALS,
    ),
    (
        "echo-mpsc-old-signals",
        Flavor::Bridge,
        "sigint",
        OLD_SIGNALS,
    ),
    (
        "echo-mpsc-old-signals",
        Flavor::Bridge,
        "syscalls-per-echo",
        OLD_SIGNALS,
    ),
    (
        "echo-mpsc-old-signals",
        Flavor::Bridge,
        "stop-continue",
        OLD_SIGNALS,
    ),
    (
        "echo-mpsc-old-signals",
        Flavor::Bridge,
        "no-loop-ipv4",
        OLD_SIGNALS,
    ),
    (
        "echo-mpsc-old-signals",
        Flavor::Bridge,
        "no-loop-ipv6",
        OLD_SIGNALS,
    ),
    (
        "tcp-echo-early-timer",
        Flavor::Bridge,
        "sigterm-unread-echo",
        "the grace period is tokio 1's timer while tokio-core's Core::run still drives \
         everything: the first connection that needs it at shutdown panics (\"there is no \
         reactor running, must be called from the context of a Tokio 1.x runtime\") and \
         takes the server down, with no summary",
    ),
    (
        "ident-service-old-timer",
        Flavor::Bridge,
        "idle-timeout",
        "tokio 1 runs the pipelines, but the idle timer is still tokio-core's Timeout, on \
         the timer wheel of a Core that nobody runs: it never fires, and a silent client \
         keeps its connection until the server stops",
    ),
    (
        "ident-service-old-timer",
        Flavor::Bridge,
        "slow-1000",
        "the idle timer is tokio-core's Timeout on a Core that nobody runs: a thousand \
         slow peers gone quiet are never closed by it",
    ),
];

/// echo-mpsc's step 2 with tokio-signal 0.1 kept: every check that ends by stopping
/// the server with a signal fails; the echoes before it pass.
const OLD_SIGNALS: &str =
    "tokio 1 runs the task, but tokio-signal 0.1 forwards signals from a driver task \
     spawned on the tokio-core Core, which nobody runs: SIGTERM and SIGINT are caught and \
     ignored, and the server never stops";

/// Why `check` is documented to fail for `program` in `flavor`, if it is.
pub fn failure(program: &str, flavor: Flavor, check: &str) -> Option<&'static str> {
    EXPECTED_FAILURES
        .iter()
        .find(|(p, f, c, _)| *p == program && *f == flavor && *c == check)
        .map(|(_, _, _, why)| *why)
}

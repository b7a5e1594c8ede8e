//! Which bucket a sample falls in, as data: symbol patterns per bucket, matched
//! against the sample's frames from the innermost outwards; the first frame that
//! matches a pattern decides. So a lock taken inside `udp_recvmsg` is the receive's,
//! a copy made for `udp_recvmsg` the copy's, and the delivery of an echo to its peer
//! (the softirq that loopback runs on the sender's way out) the receive's.
//!
//! Only the kernel part of a stack is walked: the kernel keeps frame pointers, the
//! programs and their libraries are built without them, so above the innermost
//! user-space frame the chain is guesswork. A sample that stopped in user space is
//! classed by that one function; one in the kernel that no pattern claims (a page
//! fault, a timer interrupt) is `Other`.
//!
//! A pattern is a symbol, or a prefix (`ip_rcv*`), suffix (`*copy_to_iter`) or
//! infix (`*tokio::*`) of one, matched after a leading `<` (`<tokio::… as Future>`).

use crate::results::profile::Bucket;

/// Symbol patterns per bucket, blank-separated, tried in this order for each frame.
pub const BUCKETS: &[(Bucket, &str)] = &[
    // The program's own crate (and `shared`, which it calls), before the runtime's
    // patterns that its name may hold (`modern_echo_tokio::`).
    (
        Bucket::Program,
        "legacy_* modern_* bridge_* next_* bench_* shared::*",
    ),
    // `__check_object_size` is the hardened copy's check of the user buffer.
    (
        Bucket::Copy,
        "*copy_to_iter *copy_from_iter *copy_to_user* *copy_from_user* copy_user_* \
         rep_movs_alternative skb_copy_datagram_iter __skb_datagram_iter ip_generic_getfrag \
         csum_and_copy_* csum_partial_copy_* __check_object_size move_addr_to_* \
         __copy_msghdr io_msg_copy_hdr*",
    ),
    (
        Bucket::UdpReceive,
        "net_rx_action __napi_poll process_backlog *netif_receive_skb* ip_rcv* \
         ip_local_deliver* ip_protocol_deliver_rcu ip_route_input* udp_rcv __udp4_lib_* \
         udp_unicast_rcv_skb udp_queue_rcv* __udp_enqueue_schedule_skb sock_def_readable \
         skb_defer_free_flush skb_attempt_defer_free udp_recvmsg __skb_recv_udp \
         __skb_try_recv_datagram __skb_wait_for_more_packets udp_rmem_release \
         skb_consume_udp inet_recvmsg sock_recvmsg* *sys_recvfrom *sys_recvmsg* \
         *sys_recvmmsg do_recvmmsg udp_gro_receive udp_rcv_segment",
    ),
    (
        Bucket::UdpSend,
        "udp_sendmsg udp_send_skb udp_push_pending_frames udp4_hwcsum udp_cmsg_send \
         *ip_make_skb *ip_append_data ip_setup_cork* ip_send_skb *ip_local_out ip_output \
         *ip_finish_output* ip_route_output* __dev_queue_xmit dev_hard_start_xmit \
         validate_xmit_skb* loopback_xmit *netif_rx* enqueue_to_backlog sock_alloc_send_* \
         inet_sendmsg *sock_sendmsg *sys_sendto *sys_sendmsg* *sys_sendmmsg",
    ),
    // Waiting for readiness, or submitting and completing on the ring: the kernel's
    // side, and the user-space ring of the `io-uring` crate.
    (
        Bucket::Machinery,
        "ep_* do_epoll_* *sys_epoll_* do_select core_sys_select *sys_select *sys_pselect6 \
         do_sys_poll do_poll* *sys_poll *sys_ppoll *io_uring* io_* __io_* tctx_task_work*",
    ),
    // The kernel's way in and out, and libc's wrappers around the `syscall` instruction.
    (
        Bucket::Syscall,
        "entry_SYSCALL_64* do_syscall_64 x64_sys_call syscall_* exit_to_user_mode* \
         __x64_sys_* syscall __libc_recvfrom __libc_sendto __libc_recvmsg __libc_sendmsg \
         recvmmsg sendmmsg epoll_wait",
    ),
    // The runtimes, and compio's own dependencies (flume, hashbrown).
    (
        Bucket::Runtime,
        "*tokio::* *tokio_core::* *tokio_util::* *futures::* *futures_util::* \
         *futures_core::* *futures_channel::* *futures_executor::* *mio::* *compio::* \
         *compio_* *async_task::* *scoped_tls::* *slab::* *flume::* *hashbrown::*",
    ),
];

/// Whether `symbol` matches `pattern` (see the module's documentation).
fn matches(pattern: &str, symbol: &str) -> bool {
    let symbol = symbol.strip_prefix('<').unwrap_or(symbol);
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(p), _) if p.ends_with('*') => symbol.contains(&p[..p.len() - 1]),
        (Some(suffix), _) => symbol.ends_with(suffix),
        (None, Some(prefix)) => symbol.starts_with(prefix),
        (None, None) => symbol == pattern,
    }
}

/// The bucket of one symbol, if a pattern claims it.
pub fn bucket_of(symbol: &str) -> Option<Bucket> {
    let claims =
        |(_, patterns): &&(Bucket, &str)| (patterns.split_whitespace()).any(|p| matches(p, symbol));
    BUCKETS.iter().find(claims).map(|(b, _)| *b)
}

/// The bucket of a sample, from its frames (address, symbol), innermost first.
pub fn classify(frames: &[(u64, &str)]) -> Bucket {
    let kernel = |ip: u64| ip >= 0xffff_8000_0000_0000;
    match frames.first() {
        None => Bucket::Other,
        Some(&(ip, symbol)) if !kernel(ip) => bucket_of(symbol).unwrap_or(Bucket::Program),
        Some(_) => (frames.iter())
            .take_while(|(ip, _)| kernel(*ip))
            .find_map(|(_, symbol)| bucket_of(symbol))
            .unwrap_or(Bucket::Other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stacks that perf recorded of the echo servers on Linux 6.18, innermost first
    /// (`u:` marks a frame in user space), and their buckets. The third is an echo
    /// delivered to its peer in the sender's softirq: the receive's.
    const CASES: &str = "
        udp_receive | _raw_spin_unlock_bh < __skb_recv_udp < udp_recvmsg < u:syscall
        copy | __virt_addr_valid < __check_object_size < simple_copy_to_iter < udp_recvmsg
        udp_receive | __udp_enqueue_schedule_skb < udp_queue_rcv_one_skb < process_backlog \
            < net_rx_action < handle_softirqs < __local_bh_enable_ip < __dev_queue_xmit
        udp_send | __local_bh_enable_ip < __dev_queue_xmit < ip_finish_output2
        udp_send | fib_table_lookup < ip_route_output_key_hash_rcu < udp_sendmsg
        machinery | io_sendmsg_prep < io_submit_sqes < __do_sys_io_uring_enter
        machinery | first_packet_length < udp_poll < sock_poll < __io_arm_poll_handler
        machinery | __x64_sys_epoll_wait < do_syscall_64
        machinery | finish_task_switch.isra.0 < schedule < ep_poll < do_epoll_wait
        syscall | syscall_exit_to_user_mode < do_syscall_64 < u:__libc_sendto
        syscall | entry_SYSCALL_64_after_hwframe < u:syscall
        other | clear_page_erms < do_anonymous_page < exc_page_fault < u:malloc
        runtime | u:scoped_tls::ScopedKey<T>::set < u:[unknown]
        runtime | u:compio_driver::key::ErasedKey::has_result
        runtime | u:<futures_util::stream::futures_unordered::FuturesUnordered<Fut> as \
            futures_core::stream::Stream>::poll_next
        runtime | u:tokio::runtime::io::registration::Registration::poll_ready
        program | u:modern_echo_tokio::Server::pump < u:tokio::runtime::task
        program | u:<next_echo_compio::Server>::run::{{closure}}
        program | u:__memmove_avx512_unaligned_erms < u:[unknown]
        syscall | u:__libc_sendto < u:mio::net::udp::UdpSocket::send_to
        machinery | u:io_uring::submit::Submitter::submit_and_wait";

    #[test]
    fn real_stacks_go_to_the_innermost_frame_a_pattern_claims() {
        for case in CASES.lines().filter(|l| !l.trim().is_empty()) {
            let (want, stack) = case.split_once(" | ").expect("bucket | stack");
            let want: Bucket = serde_json::from_value(want.trim().into()).expect("a bucket");
            let frame = |f: &'static str| match f.strip_prefix("u:") {
                Some(f) => (0x5555_0000, f),
                None => (0xffff_ffff_8100_0000, f),
            };
            let frames: Vec<(u64, &str)> = stack.split(" < ").map(frame).collect();
            assert_eq!(classify(&frames), want, "{stack}");
        }
        assert_eq!(classify(&[]), Bucket::Other);
    }
}

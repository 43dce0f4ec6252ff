//! Has the receiver's TCP stack acknowledged every byte written on a connection? What
//! `tcp://` and `tls://` confirmation rests on.
//!
//! Linux keeps, per TCP socket, the bytes written but not yet acknowledged by the peer
//! (`write_seq - snd_una`, what `ioctl(SIOCOUTQ)` returns). No safe crate exposes that ioctl
//! or `getsockopt(TCP_INFO)` (nix, rustix and socket2 do not; `tcp-info-sys` needs bindgen),
//! and `unsafe` is forbidden here. The kernel's sock_diag netlink interface (what `ss` uses)
//! reports the same number as `idiag_wqueue`, with the connection's state, for one connection
//! named by its addresses: one request and one answer, a few microseconds.
//! (`/proc/net/tcp` has it too, but reading it walks the whole connection hash table:
//! milliseconds on a large machine, too slow to ask once per batch.) The connection's cookie in
//! the first answer pins later questions to the same socket, should its addresses be reused.
//!
//! [`AckProbe`] is the narrow edge; [`probe_for`] picks the implementation of the platform.

use std::io;
use std::net::SocketAddr;

/// The kernel's view of one TCP connection, as far as delivery needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queue {
    /// Established; `unacked` bytes were written but not yet acknowledged by the peer.
    Open {
        /// Bytes written and not acknowledged (sent or still queued).
        unacked: u32,
    },
    /// The peer closed its side (FIN: `CLOSE_WAIT`), reset it, or the socket is gone.
    Closed,
}

/// Asks the kernel about one connection.
pub(crate) trait AckProbe: Send + Sync + std::fmt::Debug {
    /// The connection's state and unacknowledged bytes now.
    fn queue(&mut self) -> io::Result<Queue>;
}

/// The probe for the connection `local` → `peer` on this platform.
pub(crate) fn probe_for(local: SocketAddr, peer: SocketAddr) -> io::Result<Box<dyn AckProbe>> {
    #[cfg(target_os = "linux")]
    {
        Ok(Box::new(linux::SockDiag::open(local, peer)?))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (local, peer);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "TCP acknowledgement state is only read on Linux; use relp:// here",
        ))
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::net::SocketAddr;

    use netlink_packet_core::{NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload};
    use netlink_packet_sock_diag::SockDiagMessage;
    use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP, TCP_ESTABLISHED};
    use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
    use netlink_sys::protocols::NETLINK_SOCK_DIAG;
    use netlink_sys::{Socket, SocketAddr as NetlinkAddr};

    use super::{AckProbe, Queue};

    /// `INET_DIAG_NOCOOKIE`: match the addresses, whichever socket has them.
    const NO_COOKIE: [u8; 8] = [0xff; 8];

    /// A sock_diag netlink socket asking about one TCP connection.
    pub(crate) struct SockDiag {
        socket: Socket,
        local: SocketAddr,
        peer: SocketAddr,
        cookie: [u8; 8],
        sequence: u32,
        request: Vec<u8>,
        answer: Vec<u8>,
    }

    impl std::fmt::Debug for SockDiag {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("SockDiag")
                .field("local", &self.local)
                .field("peer", &self.peer)
                .finish_non_exhaustive()
        }
    }

    impl SockDiag {
        pub(crate) fn open(local: SocketAddr, peer: SocketAddr) -> io::Result<Self> {
            let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
            socket.bind_auto()?;
            socket.connect(&NetlinkAddr::new(0, 0))?;
            // The kernel answers inside `send`; a missing answer is an error, never a wait.
            socket.set_non_blocking(true)?;
            Ok(Self {
                socket,
                local,
                peer,
                cookie: NO_COOKIE,
                sequence: 0,
                request: Vec::new(),
                answer: vec![0; 8192],
            })
        }
    }

    impl AckProbe for SockDiag {
        fn queue(&mut self) -> io::Result<Queue> {
            self.sequence = self.sequence.wrapping_add(1);
            let mut header = NetlinkHeader::default();
            // Not a dump: the kernel looks up exactly this connection.
            header.flags = NLM_F_REQUEST;
            header.sequence_number = self.sequence;
            let mut message = NetlinkMessage::new(
                header,
                SockDiagMessage::InetRequest(InetRequest {
                    family: if self.peer.is_ipv4() {
                        AF_INET
                    } else {
                        AF_INET6
                    },
                    protocol: IPPROTO_TCP,
                    extensions: ExtensionFlags::empty(),
                    states: StateFlags::all(),
                    socket_id: SocketId {
                        source_port: self.local.port(),
                        destination_port: self.peer.port(),
                        source_address: self.local.ip(),
                        destination_address: self.peer.ip(),
                        interface_id: 0,
                        cookie: self.cookie,
                    },
                })
                .into(),
            );
            message.finalize();
            self.request.resize(message.buffer_len(), 0);
            message.serialize(&mut self.request);
            self.socket.send(&self.request, 0)?;
            loop {
                let n = self.socket.recv(&mut &mut self.answer[..], 0)?;
                let reply = NetlinkMessage::<SockDiagMessage>::deserialize(&self.answer[..n])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                if reply.header.sequence_number != self.sequence {
                    continue; // an answer to an earlier question that failed half-way
                }
                return match reply.payload {
                    NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                        self.cookie = r.header.socket_id.cookie;
                        Ok(if r.header.state == TCP_ESTABLISHED {
                            Queue::Open {
                                unacked: r.header.send_queue,
                            }
                        } else {
                            Queue::Closed
                        })
                    }
                    NetlinkPayload::Error(e) => {
                        let e = e.to_io();
                        // ENOENT: no socket has these addresses any more (reset, closed);
                        // ESTALE: another socket has them now.
                        if e.kind() == io::ErrorKind::NotFound
                            || e.kind() == io::ErrorKind::StaleNetworkFileHandle
                        {
                            Ok(Queue::Closed)
                        } else {
                            Err(e)
                        }
                    }
                    other => Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("unexpected sock_diag answer {other:?}"),
                    )),
                };
            }
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    use super::*;

    #[test]
    fn reports_unacknowledged_bytes_then_the_drained_queue_then_the_close() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let mut probe =
            probe_for(client.local_addr().unwrap(), client.peer_addr().unwrap()).unwrap();
        assert_eq!(probe.queue().unwrap(), Queue::Open { unacked: 0 });

        // The server's receive buffer is small and nobody reads: most bytes cannot be acked.
        let mut writer = client.try_clone().unwrap();
        let sent = std::thread::spawn(move || writer.write_all(&vec![b'x'; 8 << 20]));
        let mut waited = 0;
        let unacked = loop {
            match probe.queue().unwrap() {
                Queue::Open { unacked } if unacked > 0 => break unacked,
                _ => {}
            }
            waited += 1;
            assert!(waited < 10_000, "the queue never grew");
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        assert!(unacked > 0);

        // Once everything is read, everything is acknowledged.
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0;
        while total < 8 << 20 {
            total += server.read(&mut buf).unwrap();
        }
        sent.join().unwrap().unwrap();
        let mut drained = false;
        for _ in 0..10_000 {
            if probe.queue().unwrap() == (Queue::Open { unacked: 0 }) {
                drained = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(drained, "all bytes were read but never acknowledged");

        drop(server);
        let mut closed = false;
        for _ in 0..10_000 {
            if probe.queue().unwrap() == Queue::Closed {
                closed = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(closed, "the peer's close was never seen");
    }

    #[test]
    fn a_connection_that_no_longer_exists_is_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (local, peer) = (client.local_addr().unwrap(), client.peer_addr().unwrap());
        let mut probe = probe_for(local, peer).unwrap();
        assert!(matches!(probe.queue().unwrap(), Queue::Open { .. }));
        drop(client);
        drop(listener);
        // Our side closed first: FIN_WAIT/TIME_WAIT or gone; never "open".
        assert_eq!(probe.queue().unwrap(), Queue::Closed);
    }
}

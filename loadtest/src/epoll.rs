//! A small safe wrapper over Linux `epoll(7)`: the lightweight engine waits
//! on hundreds of client sockets at once, and unlike `poll(2)` a wait costs
//! only what is ready, not what is registered.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// An epoll instance; sockets are registered for reading, each with a
/// caller's token.
#[derive(Debug)]
pub struct Epoll {
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
}

/// Most readiness events taken from one wait.
const MAX_EVENTS: usize = 256;

impl Epoll {
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain system call without pointers.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self {
            fd,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS],
        })
    }

    /// Reports `fd` as ready (readable, level-triggered) with `token`. A
    /// closed descriptor leaves the set by itself.
    pub fn add(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: both descriptors are open for the call and `event` is a
        // valid epoll_event that outlives it.
        let r = unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd.as_raw_fd(),
                &mut event,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits until something is readable or `wait` passes (rounded up to
    /// whole milliseconds); appends the ready tokens to `ready`.
    pub fn wait(&mut self, wait: Duration, ready: &mut Vec<u64>) -> io::Result<()> {
        let millis = i32::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
        let max = i32::try_from(self.events.len()).unwrap_or(i32::MAX);
        // SAFETY: `events` is a valid buffer of `max` epoll_events that
        // lives for the duration of the call.
        let n =
            unsafe { libc::epoll_wait(self.fd.as_raw_fd(), self.events.as_mut_ptr(), max, millis) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(e)
            };
        }
        let n = usize::try_from(n).unwrap_or(0);
        ready.extend(self.events[..n].iter().map(|e| e.u64));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn reports_the_socket_that_has_a_datagram() {
        let mut ep = Epoll::new().expect("epoll");
        let a = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let b = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        ep.add(a.as_fd(), 1).expect("add a");
        ep.add(b.as_fd(), 2).expect("add b");
        let mut ready = Vec::new();
        ep.wait(Duration::ZERO, &mut ready).expect("wait");
        assert!(ready.is_empty());
        a.send_to(b"x", b.local_addr().expect("addr"))
            .expect("send");
        ep.wait(Duration::from_secs(2), &mut ready).expect("wait");
        assert_eq!(ready, vec![2]);
    }
}

//! ICE over TCP: a participant whose network blocks UDP reaches the SFU on
//! its TCP port (RFC 6544 passive candidate, RFC 4571 framing) and holds a
//! visit with one on UDP. Real webrtc-rs clients on 127.0.0.1.

mod common;

use common::{join, send_together, sfu, sfu_with_room, token};
use parley_client::Client;
use parley_policy::Role;
use parley_sfu::room::RoomPolicy;
use std::io::{Read, Write};
use std::time::Duration;

const VISIT: RoomPolicy = RoomPolicy {
    privileged: false,
    recorded: false,
    monitoring_allowed: true,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_only_client_visits_a_udp_client() -> anyhow::Result<()> {
    let sfu = sfu_with_room(60, VISIT)?;
    let mut home = Client::over_tcp("home", true, 1, 60_000).await?;
    let mut cell = Client::new("cell", true, 1, 61_000).await?;
    join(&mut home, &sfu, 60, token(60, 1, Role::Visitor), 1).await?;
    join(&mut cell, &sfu, 60, token(60, 2, Role::Visitor), 1).await?;
    let sent = 100;
    send_together(&[&home, &cell], 0, sent).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (receiver, from) in [(&home, "cell"), (&cell, "home")] {
        for kind in ["audio", "video"] {
            let got = receiver.got(from, kind);
            assert!(got >= 90, "{} got {got} {kind} from {from}", receiver.name);
        }
    }
    let stats = sfu.stats();
    assert!(stats.tcp_frames_in >= 200, "{stats:?}");
    assert!(stats.tcp_frames_out >= 200, "{stats:?}");
    assert!(
        stats.workers.iter().map(|w| w.tcp_links).sum::<u64>() >= 1,
        "{stats:?}"
    );
    // The UDP participant's media went by UDP.
    assert!(stats.datagrams_in >= 200, "{stats:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_on_the_tcp_port_are_hung_up_on() -> anyhow::Result<()> {
    let sfu = sfu();
    let port = sfu.udp_addrs()[0].port();
    let before = sfu.stats().datagrams_unrouted;
    // A frame that is not STUN for a known ufrag, then a huge length.
    let mut stranger = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stranger.write_all(&[0, 4, 0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 1, 2])?;
    stranger.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = [0u8; 16];
    let n = stranger.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the SFU closes the connection without a word");
    // The counter is updated just after the hang-up: wait for it (1 s at most).
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while sfu.stats().datagrams_unrouted == before && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        sfu.stats().datagrams_unrouted > before,
        "the junk frame was counted"
    );
    // The port still serves real clients.
    sfu.open_room(61, VISIT)?;
    let mut home = Client::over_tcp("home", true, 1, 62_000).await?;
    join(&mut home, &sfu, 61, token(61, 1, Role::Visitor), 1).await?;
    Ok(())
}

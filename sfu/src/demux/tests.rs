use super::*;
use parley_client::stun::binding_request as request;
use proptest::prelude::*;

/// A STUN binding request with the given attributes (type, value).
fn stun(attributes: &[(u16, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (kind, value) in attributes {
        body.extend_from_slice(&kind.to_be_bytes());
        body.extend_from_slice(&(value.len() as u16).to_be_bytes());
        body.extend_from_slice(value);
        while body.len() % 4 != 0 {
            body.push(0);
        }
    }
    let mut m = vec![0x00, 0x01];
    m.extend_from_slice(&(body.len() as u16).to_be_bytes());
    m.extend_from_slice(&MAGIC_COOKIE);
    m.extend_from_slice(&[7u8; 12]);
    m.extend_from_slice(&body);
    m
}

fn consent<P>(peer: P) -> Result<Routed<P>, Unrouted> {
    Ok(Routed {
        peer,
        consent: true,
    })
}

fn media<P>(peer: P) -> Result<Routed<P>, Unrouted> {
    Ok(Routed {
        peer,
        consent: false,
    })
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn classifies_by_first_byte() {
    assert_eq!(classify(&stun(&[])), PacketClass::Stun);
    assert_eq!(classify(&[22, 254, 253, 0, 0]), PacketClass::Dtls);
    let mut rtp = vec![0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
    assert_eq!(classify(&rtp), PacketClass::Rtp);
    rtp[1] = 200; // sender report
    assert_eq!(classify(&rtp), PacketClass::Rtcp);
    rtp[1] = 96 | 0x80; // marker bit set, PT 96
    assert_eq!(classify(&rtp), PacketClass::Rtp);
    assert_eq!(classify(&[]), PacketClass::Unknown);
    assert_eq!(
        classify(&[0x01, 0x01, 0, 0]),
        PacketClass::Unknown,
        "too short for STUN"
    );
    assert_eq!(classify(&[255; 30]), PacketClass::Unknown);
    let mut no_cookie = stun(&[]);
    no_cookie[4] = 0;
    assert_eq!(classify(&no_cookie), PacketClass::Unknown);
}

#[test]
fn reads_our_ufrag_after_other_attributes() {
    let m = stun(&[(0x0024, &[0, 0, 0, 1]), (ATTR_USERNAME, b"srvA:cli9")]);
    assert_eq!(stun_local_ufrag(&m), Ok("srvA"));
}

#[test]
fn refuses_bad_usernames_and_lengths() {
    assert_eq!(stun_local_ufrag(&stun(&[])), Err(StunError::NoUsername));
    assert_eq!(
        stun_local_ufrag(&stun(&[(ATTR_USERNAME, b"nocolon")])),
        Err(StunError::BadUsername)
    );
    assert_eq!(
        stun_local_ufrag(&stun(&[(ATTR_USERNAME, b":x")])),
        Err(StunError::BadUsername)
    );
    assert_eq!(
        stun_local_ufrag(&stun(&[(ATTR_USERNAME, &[0xff, b':', b'a'])])),
        Err(StunError::BadUsername)
    );
    let mut m = stun(&[(ATTR_USERNAME, b"a:b")]);
    m[3] = m[3].wrapping_add(40);
    assert_eq!(stun_local_ufrag(&m), Err(StunError::BadLength));
    let mut m = stun(&[(ATTR_USERNAME, b"a:b")]);
    m[STUN_HEADER + 3] = 200; // attribute longer than the message
    assert_eq!(stun_local_ufrag(&m), Err(StunError::TruncatedAttribute));
    assert_eq!(stun_local_ufrag(&[0x80, 0, 0, 0]), Err(StunError::NotStun));
}

#[test]
fn routes_stun_by_ufrag_then_media_by_address() {
    let mut d = Demux::default();
    d.add("alice", "alice-password-0123456789", 1u32);
    d.add("bob", "bob-password-0123456789abc", 2u32);
    let dtls = [22u8, 254, 253, 0, 0, 0, 0];
    assert_eq!(d.route(&dtls, addr(5000)), Err(Unrouted::UnknownAddress));
    assert_eq!(
        d.route(&request("alice:x", "alice-password-0123456789"), addr(5000)),
        consent(1)
    );
    assert_eq!(
        d.route(&request("bob:y", "bob-password-0123456789abc"), addr(6000)),
        consent(2)
    );
    assert_eq!(d.route(&dtls, addr(5000)), media(1));
    assert_eq!(d.route(&dtls, addr(6000)), media(2));
    assert_eq!(
        d.route(&request("mallory:z", "whatever"), addr(7000)),
        Err(Unrouted::UnknownUfrag)
    );
    assert_eq!(d.route(&dtls, addr(7000)), Err(Unrouted::UnknownAddress));
    assert_eq!(d.route(&[9, 9, 9], addr(5000)), Err(Unrouted::Unknown));
    // A binding response has no USERNAME: routed by its address.
    let mut response = stun(&[(0x0020, &[0, 1, 0, 0])]);
    response[1] = 0x01;
    assert_eq!(d.route(&response, addr(5000)), media(1));
    assert_eq!(
        d.route(&response, addr(7000)),
        Err(Unrouted::BadStun(StunError::NoUsername))
    );
    d.remove(1);
    assert_eq!(d.route(&dtls, addr(5000)), Err(Unrouted::UnknownAddress));
    assert_eq!(
        d.route(&request("alice:x", "alice-password-0123456789"), addr(5000)),
        Err(Unrouted::UnknownUfrag)
    );
    assert_eq!(d.addresses(), 1);
}

/// The ufrag travels in clear: a request that names it but is not signed
/// with the peer's password (or not signed at all) is refused and teaches
/// nothing, so the peer's genuine address keeps routing.
#[test]
fn forged_checks_are_refused_and_never_learned() {
    let mut d = Demux::default();
    d.add("alice", "alice-password-0123456789", 1u32);
    let dtls = [22u8, 254, 253, 0, 0, 0, 0];
    assert_eq!(
        d.route(&request("alice:x", "alice-password-0123456789"), addr(5000)),
        consent(1)
    );
    for port in 6000..6010 {
        assert_eq!(
            d.route(&request("alice:x", "a-guess"), addr(port)),
            Err(Unrouted::BadIntegrity)
        );
        assert_eq!(
            d.route(&stun(&[(ATTR_USERNAME, b"alice:x")]), addr(port)),
            Err(Unrouted::BadIntegrity),
            "no MESSAGE-INTEGRITY at all"
        );
        assert_eq!(d.route(&dtls, addr(port)), Err(Unrouted::UnknownAddress));
    }
    let mut tampered = request("alice:x", "alice-password-0123456789");
    let last = tampered.len() - 20;
    tampered[last] ^= 1;
    assert_eq!(d.route(&tampered, addr(6100)), Err(Unrouted::BadIntegrity));
    assert_eq!(
        d.route(&dtls, addr(5000)),
        media(1),
        "the genuine address still routes"
    );
    assert_eq!(d.addresses(), 1);
}

#[test]
fn a_source_that_floods_with_refused_datagrams_is_dropped_unread_but_peers_are_not() {
    use source_budget::BURST;
    let mut d = Demux::default();
    d.add("alice", "alice-password-0123456789", 1u32);
    let now = Instant::now();
    let genuine = request("alice:x", "alice-password-0123456789");
    assert_eq!(d.route_within_budget(&genuine, addr(5000), now), consent(1));
    let forged = request("alice:x", "not-alice-password-at-all");
    let attacker = SocketAddr::from(([127, 0, 0, 1], 6666));
    for _ in 0..BURST {
        assert_eq!(
            d.route_within_budget(&forged, attacker, now),
            Err(Unrouted::BadIntegrity)
        );
    }
    assert_eq!(
        d.route_within_budget(&forged, attacker, now),
        Err(Unrouted::Limited),
        "the source's budget is spent: not even checked"
    );
    assert_eq!(
        d.route_within_budget(&genuine, SocketAddr::from(([127, 0, 0, 1], 6667)), now),
        Err(Unrouted::Limited),
        "another port of the same source shares its budget"
    );
    let dtls = [22u8, 254, 253, 0, 0, 0, 0];
    assert_eq!(
        d.route_within_budget(&dtls, addr(5000), now),
        media(1),
        "a learned address of the same IP is not held up"
    );
    for _ in 0..2 * BURST {
        assert_eq!(
            d.route_within_budget(&dtls, attacker, now),
            Err(Unrouted::UnknownAddress),
            "what is not STUN costs a lookup: refused, never charged"
        );
    }
    assert_eq!(d.route_within_budget(&genuine, addr(5000), now), consent(1));
    let later = now + std::time::Duration::from_secs(5);
    assert_eq!(
        d.route_within_budget(&genuine, SocketAddr::from(([127, 0, 0, 1], 6667)), later),
        consent(1),
        "once the budget refills, a new address is learned again"
    );
}

#[test]
fn addresses_per_peer_are_bounded() {
    let mut d = Demux::default();
    d.add("alice", "alice-password-0123456789", 1u32);
    for port in 1000..1100 {
        assert_eq!(
            d.route(&request("alice:x", "alice-password-0123456789"), addr(port)),
            consent(1)
        );
    }
    assert_eq!(d.addresses(), MAX_ADDRESSES_PER_PEER);
    let dtls = [22u8, 254, 253, 0, 0, 0, 0];
    assert_eq!(
        d.route(&dtls, addr(1099)),
        media(1),
        "the newest address still routes"
    );
    assert_eq!(
        d.route(&dtls, addr(1000)),
        Err(Unrouted::UnknownAddress),
        "the oldest is forgotten"
    );
    d.remove(1);
    assert_eq!(d.addresses(), 0);
}

proptest! {
    #[test]
    fn arbitrary_datagrams_never_panic_or_route_to_strangers(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut d = Demux::default();
        d.add("known", "known-password-0123456789", 1u8);
        let _ = classify(&data);
        let _ = stun_local_ufrag(&data);
        match d.route(&data, addr(1)) {
            Ok(r) => prop_assert_eq!(r.peer, 1),
            Err(_) => prop_assert_eq!(d.addresses(), 0),
        }
    }

    #[test]
    fn truncations_of_a_valid_request_never_panic(cut in 0usize..40) {
        let m = stun(&[(0x0024, &[0, 0, 0, 1]), (ATTR_USERNAME, b"known:peer")]);
        let cut = cut.min(m.len());
        let _ = stun_local_ufrag(&m[..cut]);
    }
}

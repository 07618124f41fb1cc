use super::*;
use chrono::Duration;

fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_900_000_000 + s, 0).expect("valid instant")
}

fn grant() -> JoinGrant {
    JoinGrant {
        session_id: 7,
        participant_id: 42,
        role: Role::Visitor,
        kind: SessionKind::SocialVisit,
        not_before: at(0),
        expires_at: at(3600),
    }
}

fn tokens(leeway: u64) -> JoinTokens {
    JoinTokens::new(&[9u8; KEY_BYTES], leeway).expect("valid key")
}

#[test]
fn valid_inside_window() {
    let t = tokens(30);
    let token = t.issue(&grant(), at(0)).expect("issue");
    let claims = t.verify(&token, 7, at(10)).expect("valid");
    assert_eq!(claims.participant_id(), Ok(42));
    assert_eq!(claims.role, Role::Visitor);
    assert_eq!(claims.kind, SessionKind::SocialVisit);
}

#[test]
fn expiry_and_not_before_respect_leeway() {
    let t = tokens(30);
    let token = t.issue(&grant(), at(0)).expect("issue");
    assert!(t.verify(&token, 7, at(3600 + 29)).is_ok());
    assert_eq!(t.verify(&token, 7, at(3600 + 30)), Err(GrantError::Expired));
    assert!(t.verify(&token, 7, at(-30)).is_ok());
    assert_eq!(t.verify(&token, 7, at(-31)), Err(GrantError::NotYetValid));
}

#[test]
fn after_the_end_a_token_serves_only_the_given_time_and_its_session() {
    let t = tokens(0);
    let token = t.issue(&grant(), at(0)).expect("issue");
    let day = 86_400;
    assert_eq!(t.verify(&token, 7, at(3600 + 1)), Err(GrantError::Expired));
    assert!(
        t.verify_after_end(&token, 7, at(3600 + day - 1), day)
            .is_ok()
    );
    assert_eq!(
        t.verify_after_end(&token, 7, at(3600 + day), day),
        Err(GrantError::Expired)
    );
    assert!(matches!(
        t.verify_after_end(&token, 8, at(3600 + 1), day),
        Err(GrantError::WrongSession { .. })
    ));
    // Before the window opens it is as early as ever.
    assert_eq!(
        t.verify_after_end(&token, 7, at(-1), day),
        Err(GrantError::NotYetValid)
    );
    // A negative grace is none.
    assert_eq!(
        t.verify_after_end(&token, 7, at(3600), -day),
        Err(GrantError::Expired)
    );
}

#[test]
fn leeway_is_bounded() {
    let t = tokens(1_000_000);
    let token = t.issue(&grant(), at(0)).expect("issue");
    let late = at(3600) + Duration::seconds(MAX_LEEWAY_SECONDS as i64);
    assert_eq!(t.verify(&token, 7, late), Err(GrantError::Expired));
}

#[test]
fn scoped_to_one_session() {
    let t = tokens(0);
    let token = t.issue(&grant(), at(0)).expect("issue");
    assert_eq!(
        t.verify(&token, 8, at(1)),
        Err(GrantError::WrongSession {
            token: 7,
            wanted: 8
        })
    );
}

#[test]
fn other_key_or_tampering_is_refused() {
    let token = tokens(0).issue(&grant(), at(0)).expect("issue");
    let other = JoinTokens::new(&[1u8; KEY_BYTES], 0).expect("key");
    assert!(matches!(
        other.verify(&token, 7, at(1)),
        Err(GrantError::Invalid(_))
    ));
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    parts[1] = parts[1].replace('a', "b");
    let forged = parts.join(".");
    if forged != token {
        assert!(tokens(0).verify(&forged, 7, at(1)).is_err());
    }
    assert!(tokens(0).verify("garbage", 7, at(1)).is_err());
    assert!(tokens(0).verify("", 7, at(1)).is_err());
}

#[test]
fn alg_none_is_refused() {
    use jsonwebtoken::{EncodingKey, Header};
    // A token signed with another algorithm (HS512) must not verify.
    let claims = tokens(0)
        .verify(&tokens(0).issue(&grant(), at(0)).expect("issue"), 7, at(1))
        .expect("valid");
    let other_alg = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &claims,
        &EncodingKey::from_secret(&[9u8; KEY_BYTES]),
    )
    .expect("encode");
    assert!(tokens(0).verify(&other_alg, 7, at(1)).is_err());
}

#[test]
fn empty_window_is_refused_and_key_length_checked() {
    let mut g = grant();
    g.expires_at = g.not_before;
    assert_eq!(tokens(0).issue(&g, at(0)), Err(GrantError::EmptyWindow));
    assert_eq!(
        JoinTokens::new(&[0u8; 5], 0).err(),
        Some(GrantError::KeyLength(5))
    );
}

#[test]
fn control_secret_depends_on_the_key_and_is_not_the_key() {
    let (a, b) = ([1u8; KEY_BYTES], [2u8; KEY_BYTES]);
    assert_eq!(control_secret(&a), control_secret(&a));
    assert_ne!(control_secret(&a), control_secret(&b));
    assert_eq!(control_secret(&a).len(), 64);
    assert_ne!(control_secret(&a), hex::encode(a));
    assert!(secrets_match(&control_secret(&a), &control_secret(&a)));
    assert!(!secrets_match(&control_secret(&a), &control_secret(&b)));
    assert!(!secrets_match("abc", "abcd"));
}

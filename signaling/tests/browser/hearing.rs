//! A remote hearing: the witness joins with the keyboard, the judge admits
//! them from the waiting room by clicking, the witness's media then reaches
//! the judge, the judge's captions reach the witness, and the judge removes
//! the witness with a reason.

use crate::chromium::{Browser, Screen, one_at_a_time};
use crate::harness::*;
use crate::join_page::*;
use crate::window::Window;
use crate::ws::{participant, token};
use chrono::Duration;
use std::time::Duration as Wait;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_judge_admits_a_witness_who_is_then_seen_and_heard() {
    let _one = one_at_a_time().await;
    let s = start().await;
    let hearing = hearing(
        &s,
        "Demo Crown Court",
        s.now() + Duration::minutes(5),
        &[("Judge Okafor", "judge"), ("Witness Lund", "witness")],
    )
    .await;
    let id = hearing["id"].as_i64().expect("id");
    let witness_id = participant(&hearing, "witness");
    let judge_token = token(&s, &s.admin, id, participant(&hearing, "judge")).await;
    let witness_token = token(&s, &s.admin, id, witness_id).await;

    let browser = Browser::launch().await;
    let bench = browser.page("judge", Screen::Desktop).await;
    let witness = browser.page("witness", Screen::Phone).await;

    join_after_check(&bench, &s, &judge_token).await;
    wait_for_screen(&bench, "call", "the judge is admitted at once", 10).await;
    assert!(
        bench.has("#staff:not([hidden])").await,
        "hearing controls shown"
    );
    // The judge starts typing a reason; a roster change must not wipe it.
    bench.type_into("#end-reason", "Adjourned until").await;

    open_checked(&witness, &s, &witness_token).await;
    // Keyboard only: the screen's heading has focus; Tab reaches Join, Enter presses it.
    witness.press("Tab").await;
    assert_eq!(
        witness.focused().await,
        "join",
        "Tab from the heading reaches Join"
    );
    witness.press("Enter").await;
    wait_for_screen(&witness, "waiting", "the witness waits", 10).await;
    assert!(
        witness
            .text("#waiting-text")
            .await
            .contains("court will let you in")
    );
    witness.screenshot("hearing-1-witness-waiting").await;

    let admit =
        format!("#staff [data-list=lobby] [data-participant='{witness_id}'] [data-action=admit]");
    bench
        .wait(
            &format!("document.querySelector(\"{admit}\")"),
            "the witness in the judge's lobby list",
            Wait::from_secs(10),
        )
        .await;
    let label = bench
        .eval(&format!(
            "document.querySelector(\"{admit}\").getAttribute('aria-label')"
        ))
        .await;
    assert_eq!(label, "Admit Witness Lund (Witness)");
    assert_eq!(
        bench
            .eval("document.querySelector('#end-reason').value")
            .await,
        "Adjourned until",
        "typed text survives the roster update"
    );
    assert_eq!(bench.focused().await, "end-reason", "and so does the focus");
    screenshot_and_check(&bench, "hearing-2-judge-lobby", "judge's lobby").await;
    // Nothing reaches the judge from the lobby.
    assert_eq!(bench.received().await.0, 0, "no video before admission");

    bench.click(&admit).await;
    wait_for_screen(&witness, "call", "the witness is admitted", 10).await;
    let got = bench.wait_for_media(10, 20, Wait::from_secs(30)).await;
    witness.wait_for_media(10, 20, Wait::from_secs(30)).await;
    tokio::time::sleep(Wait::from_secs(1)).await;
    let later = bench.received().await;
    assert!(later.0 > got.0 && later.1 > got.1, "{got:?} then {later:?}");
    assert!(
        bench
            .text("#tiles .remote figcaption")
            .await
            .contains("Witness Lund · Witness")
    );
    assert!(
        witness
            .text("#tiles .remote figcaption")
            .await
            .contains("Judge")
    );
    assert!(bench.text("#notice-text").await.contains("recorded"));
    // The judge types a line of captions; the witness reads it.
    assert!(
        !witness.has("#captions-form:not([hidden])").await,
        "a witness does not caption"
    );
    bench
        .type_into("#captions-input", "Please state your name.")
        .await;
    bench.press("Enter").await;
    wait_for_text(
        &witness,
        "#captions-view",
        "Please state your name.",
        "the judge's caption",
        10,
    )
    .await;
    assert!(
        witness
            .text("#captions-view")
            .await
            .contains("Judge Okafor · Judge: ")
    );
    // The judge's own line comes back through the server like everyone's.
    wait_for_text(
        &bench,
        "#captions-view",
        "Please state your name.",
        "the judge's own caption echoed",
        10,
    )
    .await;
    bench.screenshot("hearing-3-judge-call").await;
    witness.screenshot("hearing-3-witness-call").await;

    // The judge mutes the witness for everyone: the judge's page receives
    // no more of their audio, still their video; unmuting restores it.
    let mute = format!("#mute-{witness_id}");
    bench.click(&mute).await;
    wait_for_toggle(&bench, &mute, true, "the roster to show the mute").await;
    tokio::time::sleep(Wait::from_millis(500)).await;
    let muted_at = bench.received().await;
    tokio::time::sleep(Wait::from_secs(2)).await;
    let still = bench.received().await;
    assert!(
        still.1 <= muted_at.1 + 2,
        "no audio from a muted witness: {muted_at:?} then {still:?}"
    );
    assert!(
        still.0 > muted_at.0,
        "their video goes on: {muted_at:?} then {still:?}"
    );
    bench.click(&mute).await;
    wait_for_toggle(&bench, &mute, false, "the roster to show the unmute").await;
    bench
        .wait_for_media(still.0, still.1 + 20, Wait::from_secs(10))
        .await;

    // The judge protects the witness (default pseudonym) and closes the
    // hearing to the public; both come back from the server.
    let protect =
        format!("#staff [data-participant='{witness_id}'] form[data-action=protect] button");
    bench.click(&protect).await;
    bench
        .wait(
            &format!("!document.querySelector(\"{protect}\")"),
            "the roster to show the witness protected",
            Wait::from_secs(10),
        )
        .await;
    bench.click("#gallery").await;
    wait_for_toggle(&bench, "#gallery", true, "the hearing closed to the public").await;
    wait_for_text(
        &witness,
        "#warning",
        "closed to the public",
        "the witness told the hearing is closed",
        10,
    )
    .await;
    bench.screenshot("hearing-4-judge-protect-closed").await;

    // The judge extends the hearing by 15 minutes; the witness is told and
    // the countdown moves.
    let before = witness.text("#ends-at").await;
    bench.click("#staff form.inline-form button").await;
    wait_for_text(&witness, "#warning", "extended", "the extension notice", 10).await;
    witness
        .wait(
            &format!(
                "document.querySelector('#ends-at').textContent !== {}",
                serde_json::to_string(&before).expect("json")
            ),
            "the countdown's end to move",
            Wait::from_secs(5),
        )
        .await;
    // The judge removes the witness with a reason the witness is shown.
    let form = format!("#staff [data-list=admitted] [data-participant='{witness_id}']");
    bench
        .type_into(&format!("{form} input"), "Testimony complete")
        .await;
    bench.click(&format!("{form} form button")).await;
    wait_for_screen(&witness, "ended", "the removed witness's end screen", 10).await;
    assert!(
        witness
            .text("#ended-message")
            .await
            .contains("Testimony complete")
    );
    witness.screenshot("hearing-4-witness-removed").await;
}

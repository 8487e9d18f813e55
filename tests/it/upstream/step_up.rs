//! Logins that begin at an upstream provider and need more than it gives: the step-up with a
//! factor of this provider, and what the tokens' `amr` says was used.

use super::*;

#[tokio::test]
async fn an_application_needing_more_than_the_upstream_gives_steps_up_with_own_factors() {
    // The upstream gives level 1; the application needs 2.
    let fed = federation("scopes = \"openid profile nip\", nip_claim = \"nip\"", &[]).await;
    let nip = unique_nip();
    fed.up.asn(&nip, "Lukman Hakim").await;
    fed.down.asn(&nip, "Lukman Hakim").await;
    let strict = fed.down.client_where(&["openid"], &[GrantType::AuthorizationCode], |n| n.min_level = 2).await;
    let strict_rp = fed.down.rp(&strict).await;

    // Without an authenticator here the level is out of reach: refused, no session.
    let b = browser();
    let html = b.get(&start_auth(&strict_rp, &[]).url).send().await.unwrap().text().await.unwrap();
    let back = via_upstream(&fed, &b, &html, &nip).await;
    let res = b.get(&back).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("access_denied"));

    // With one, the upstream login is followed by the code from the authenticator app; even
    // where level 1 would do, as after a password: the upstream is no way around the factor.
    let (secret, _) = crate::factors::enrol(&fed.down, &browser(), &nip).await;
    let b = browser();
    let (_, _, html) = login_page(&fed, &b).await;
    let back = via_upstream(&fed, &b, &html, &nip).await;
    let res = b.get(&back).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("name=\"code\""));
    let b = browser();
    let start = start_auth(&strict_rp, &[]);
    let html = b.get(&start.url).send().await.unwrap().text().await.unwrap();
    let back = via_upstream(&fed, &b, &html, &nip).await;
    code_then_level_two_without_a_password(&fed, &b, &back, &strict_rp, start, &secret).await;
}

/// From `url` (the page after the upstream, or the application's authorization request), the
/// second-factor page and its code (no password form), then the tokens: level 2, and `amr`
/// naming the upstream first.
async fn code_then_level_two_without_a_password(
    fed: &Fed,
    b: &reqwest::Client,
    url: &str,
    rp: &Rp,
    start: AuthStart,
    secret: &str,
) {
    let res = b.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("name=\"code\"") && !html.contains("name=\"password\""), "{html}");
    let res = crate::factors::otp(&fed.down, b, &html, "code", &crate::factors::code_now(secret, 1)).await;
    assert_eq!(res.status(), 303);
    let tokens = redeem(rp, &location(&res), start.verifier).await;
    let claims = jwt_payload(&tokens.id_token().expect("id token").to_string());
    assert_eq!(claims["acr"], "urn:gerbang:loa:2");
    assert_eq!(claims["amr"], serde_json::json!(["x-upstream", "otp", "mfa"]), "no password was used");
}

/// A session opened upstream (no password typed here) and stepped up later with a factor of
/// this provider: the tokens' `amr` still names the upstream first, not a password.
#[tokio::test]
async fn a_step_up_after_an_upstream_login_does_not_claim_a_password() {
    let fed = federation("scopes = \"openid profile nip\", nip_claim = \"nip\"", &[]).await;
    let nip = unique_nip();
    fed.up.asn(&nip, "Ratna Sari").await;
    fed.down.asn(&nip, "Ratna Sari").await;
    let b = browser();
    let (_, _, html) = login_page(&fed, &b).await;
    let back = via_upstream(&fed, &b, &html, &nip).await;
    assert_eq!(b.get(&back).send().await.unwrap().status(), 303, "signed in at level 1, no factor yet");
    let (secret, _) = crate::factors::enrol(&fed.down, &b, &nip).await;

    let strict = fed.down.client_where(&["openid"], &[GrantType::AuthorizationCode], |n| n.min_level = 2).await;
    let strict_rp = fed.down.rp(&strict).await;
    let start = start_auth(&strict_rp, &[]);
    let url = start.url.clone();
    code_then_level_two_without_a_password(&fed, &b, &url, &strict_rp, start, &secret).await;
}

/// A flow that went upstream and then, at the second step, back to the password form: the
/// tokens name the password as the first factor, the one that was used last.
#[tokio::test]
async fn a_password_typed_after_an_upstream_first_step_is_the_first_factor() {
    let fed = federation("scopes = \"openid profile nip\", nip_claim = \"nip\"", &[]).await;
    let nip = unique_nip();
    fed.up.asn(&nip, "Bayu Nugroho").await;
    fed.down.asn(&nip, "Bayu Nugroho").await;
    let (secret, _) = crate::factors::enrol(&fed.down, &browser(), &nip).await;
    let b = browser();
    let (rp, start, login_html) = login_page(&fed, &b).await;
    let back = via_upstream(&fed, &b, &login_html, &nip).await;
    let res = b.get(&back).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("name=\"code\""), "the upstream's first step, then the code");
    let res = submit_login(&fed.down, &b, &login_html, &nip, PASSWORD).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("name=\"code\""), "{html}");
    let res = crate::factors::otp(&fed.down, &b, &html, "code", &crate::factors::code_now(&secret, 1)).await;
    assert_eq!(res.status(), 303);
    let tokens = redeem(&rp, &location(&res), start.verifier).await;
    let claims = jwt_payload(&tokens.id_token().expect("id token").to_string());
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
}

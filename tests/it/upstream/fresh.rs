//! A new login asked of Gerbang (`prompt=login`, `max_age`) is asked of the upstream in turn, and
//! an upstream that answers from an older session anyway is refused: a session someone left open
//! there on a shared computer never stands in for the next person's login.

use super::*;

/// Opens an application's authorization request (plus `extra`) in a new browser here and presses
/// the SIASN button: that browser, and the upstream's authorization URL.
async fn to_upstream(fed: &Fed, extra: &str) -> (reqwest::Client, String) {
    let b = browser();
    let c = fed.down.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode], true).await;
    let start = start_auth(&fed.down.rp(&c).await, &["profile"]);
    let html = b.get(format!("{}{extra}", start.url)).send().await.unwrap().text().await.unwrap();
    let form = [("login_id", hidden(&html, "login_id")), ("csrf", hidden(&html, "csrf"))];
    let res = b.post(fed.down.url("/upstream/siasn/start")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    (b, location(&res))
}

#[tokio::test]
async fn a_new_login_asked_of_gerbang_is_asked_of_the_upstream_and_checked() {
    let fed = federation(SIASN, &[]).await;
    let nip = unique_nip();
    fed.up.asn(&nip, "Dian Sastrowardoyo").await;
    fed.down.asn(&nip, "Dian Sastrowardoyo").await;

    // Someone logs in through the upstream on this computer and leaves its session open there.
    let up_b = browser();
    let (b, url) = to_upstream(&fed, "").await;
    assert!(!url.contains("prompt=") && !url.contains("max_age="), "{url}");
    let back = login(&fed.up, &up_b, &url, &nip, PASSWORD).await;
    assert_eq!(b.get(&back).send().await.unwrap().status(), 303);

    // The next person's application asks for a new login: so is the upstream, which shows its
    // form instead of answering from the open session.
    let (_, url) = to_upstream(&fed, "&prompt=login").await;
    assert_eq!(query(&url)["prompt"], "login");
    let res = up_b.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("name=\"password\""));

    // An upstream that ignores the request and answers from the old session is refused here.
    fed.down.advance(60);
    let (b, url) = to_upstream(&fed, "&max_age=30").await;
    assert_eq!(query(&url)["max_age"], "30");
    let res = up_b.get(url.replace("&max_age=30", "")).send().await.unwrap();
    assert_eq!(res.status(), 303, "the upstream answered from its session");
    let res = b.get(location(&res)).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let cookies: Vec<String> =
        res.headers().get_all("set-cookie").iter().filter_map(|c| c.to_str().ok().map(String::from)).collect();
    assert!(cookies.iter().all(|c| !c.contains("gerbang_sso")), "no session");
    assert!(res.text().await.unwrap().contains("login_not_fresh"));
}

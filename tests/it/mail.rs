//! Outgoing e-mail through a real SMTP server on loopback: rendering in both languages, the
//! operator's test message, and a clear answer when no relay is configured.

use gerbang::mail::MailError;

use crate::common::TestApp;
use crate::mailbox::{mailbox, smtp_settings, unique_address};

async fn with_mail() -> TestApp {
    let settings = smtp_settings();
    let pairs: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    TestApp::spawn_with(&pairs).await
}

#[tokio::test]
async fn a_message_arrives_in_the_language_asked_for() {
    let app = with_mail().await;
    let st = &app.state;
    let (id_to, en_to) = (unique_address(), unique_address());
    let ctx = || minijinja::context! { issuer => st.config.issuer.clone() };
    st.mailer.deliver(&st.themes, &id_to, "id", "test", ctx()).await.unwrap();
    st.mailer.send(&st.themes, &en_to, "en", "test", ctx()).unwrap();
    let id_mail = mailbox().only(&id_to).await;
    assert_eq!(id_mail.subject, "Pesan uji Gerbang");
    assert!(id_mail.body.contains("pengiriman e-mail sudah berfungsi"), "{}", id_mail.body);
    assert!(id_mail.body.contains(&st.config.issuer));
    assert!(id_mail.headers.contains("sso@uji.go.id"), "{}", id_mail.headers);
    let en_mail = mailbox().only(&en_to).await;
    assert_eq!(en_mail.subject, "Gerbang test message");
}

#[tokio::test]
async fn without_a_relay_sending_says_so() {
    let app = TestApp::spawn().await;
    let st = &app.state;
    assert!(!st.mailer.configured());
    let to = unique_address();
    let ctx = minijinja::context! {};
    assert_eq!(st.mailer.send(&st.themes, &to, "id", "test", ctx.clone()).unwrap_err(), MailError::NotConfigured);
    assert_eq!(st.mailer.deliver(&st.themes, &to, "id", "test", ctx).await.unwrap_err(), MailError::NotConfigured);
}

#[tokio::test]
async fn a_malformed_recipient_is_refused_before_the_relay() {
    let app = with_mail().await;
    let st = &app.state;
    let e = st.mailer.send(&st.themes, "bukan alamat", "id", "test", minijinja::context! {}).unwrap_err();
    assert_eq!(e, MailError::Address);
}

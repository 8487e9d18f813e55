//! Authentication of people: password verification, login throttling, and the SSO session that
//! records who logged in, when, and how strongly.

pub mod login;
pub mod password;
pub mod recovery;
pub mod session;
pub mod totp;

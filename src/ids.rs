//! Typed identifiers for what the faces name in paths: accounts, applications (OAuth clients),
//! token grants, single sign-on sessions and passkeys. Each is checked where it enters, so an id that reaches an operation or is
//! echoed into a URL or a form is well formed; one that is not names nothing, like a missing id.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An id that is not well formed; `0` names what it should have identified (`account`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {0} id")]
pub struct IdError(pub &'static str);

/// The store's ids: a random UUID in its lowercase hyphenated text, exactly as generated.
fn is_uuid_text(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok_and(|u| u.hyphenated().to_string() == s)
}

/// The registration rule for client ids: 1 to 64 ASCII letters, digits, `-`, `_` or `.`.
pub fn valid_client_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A session's public id as `auth::session::create` makes it: 16 random bytes in unpadded
/// base64url, so exactly 22 characters of that alphabet.
fn is_session_id(s: &str) -> bool {
    s.len() == 22 && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $rule:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, IdError> {
                if $rule(s) {
                    Ok($name(s.to_string()))
                } else {
                    Err(IdError($what))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(s: String) -> Result<Self, IdError> {
                if $rule(&s) {
                    Ok($name(s))
                } else {
                    Err(IdError($what))
                }
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

id_type!(
    /// An account's internal id (its `sub` for applications without pairwise subjects).
    AccountId,
    "account",
    is_uuid_text
);
id_type!(
    /// A registered application's client id.
    ClientId,
    "application",
    valid_client_id
);
id_type!(
    /// A token grant (one consent or login of a person at an application).
    GrantId,
    "grant",
    is_uuid_text
);
id_type!(
    /// A single sign-on session's public id (`sid`), as applications and the account page see it.
    SessionId,
    "session",
    is_session_id
);
id_type!(
    /// One of a person's passkeys (the store's row id, not the authenticator's credential id).
    PasskeyId,
    "passkey",
    is_uuid_text
);

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "5f0c6a53-2d7e-4c1b-9a8e-0b1f2c3d4e5f";

    #[test]
    fn account_and_grant_ids_are_uuids_as_the_store_writes_them() {
        let generated = uuid::Uuid::new_v4().to_string();
        assert_eq!(AccountId::parse(&generated).unwrap().as_str(), generated);
        assert_eq!(GrantId::parse(UUID).unwrap().to_string(), UUID);
        for bad in [
            "",
            "no-such-id",
            "5F0C6A53-2D7E-4C1B-9A8E-0B1F2C3D4E5F",
            "5f0c6a532d7e4c1b9a8e0b1f2c3d4e5f",
            "{5f0c6a53-2d7e-4c1b-9a8e-0b1f2c3d4e5f}",
            "urn:uuid:5f0c6a53-2d7e-4c1b-9a8e-0b1f2c3d4e5f",
            " 5f0c6a53-2d7e-4c1b-9a8e-0b1f2c3d4e5f",
            "5f0c6a53-2d7e-4c1b-9a8e-0b1f2c3d4e5f/../x",
            "<script>",
        ] {
            assert_eq!(AccountId::parse(bad), Err(IdError("account")), "{bad:?}");
            assert_eq!(GrantId::parse(bad), Err(IdError("grant")), "{bad:?}");
        }
    }

    #[test]
    fn session_ids_are_sixteen_random_bytes_in_base64url_and_passkey_ids_uuids() {
        let generated = crate::crypto::random_token(16).unwrap();
        assert_eq!(SessionId::parse(&generated).unwrap().as_str(), generated);
        assert!(SessionId::parse("AbC-_0123456789xyzXYZ_-").is_err(), "23 characters");
        assert_eq!(SessionId::parse("AbC-_0123456789xyzXYZ_").unwrap().as_str(), "AbC-_0123456789xyzXYZ_");
        for bad in ["", "no-such-session", "../totp/remove?x=", "..%2Ftotp%2Fremove%3Fx%3D", "AbC-_0123456789xyzX/Z_"] {
            assert_eq!(SessionId::parse(bad), Err(IdError("session")), "{bad:?}");
        }
        assert_eq!(PasskeyId::parse(UUID).unwrap().as_str(), UUID);
        for bad in ["", "no-such-key", "../totp/remove", "5f0c6a53-2d7e-4c1b-9a8e-0b1f2c3d4e5f/../x"] {
            assert_eq!(PasskeyId::parse(bad), Err(IdError("passkey")), "{bad:?}");
        }
    }

    #[test]
    fn client_ids_follow_the_registration_rule() {
        for good in ["simpeg", "gerbang-console", "app-Xy_9.z", "a", &"x".repeat(64)] {
            assert_eq!(ClientId::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", &"x".repeat(65), "simpeg/edit", "sim peg", "a%2Fb", "é", "a?b", "a\"b"] {
            assert_eq!(ClientId::parse(bad), Err(IdError("application")), "{bad:?}");
        }
    }

    #[test]
    fn serialized_as_the_plain_string_and_checked_when_read() {
        let id = ClientId::parse("simpeg").unwrap();
        assert_eq!(serde_json::to_value(&id).unwrap(), serde_json::json!("simpeg"));
        assert_eq!(serde_json::from_str::<ClientId>("\"simpeg\"").unwrap(), id);
        assert!(serde_json::from_str::<ClientId>("\"sim peg\"").is_err());
        assert!(serde_json::from_str::<AccountId>("\"no-such-id\"").is_err());
        let a: AccountId = serde_json::from_value(serde_json::json!(UUID)).unwrap();
        assert_eq!(a.as_str(), UUID);
    }
}

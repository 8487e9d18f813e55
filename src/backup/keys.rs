//! The age layer: encryption to x25519 recipients (`age1…`) or to a passphrase read from a
//! file, and decryption with an age identity file or the same passphrase file. age
//! authenticates every 64 KiB chunk and the end of the stream, so a truncated or altered
//! archive fails here, before any of its content is trusted.

use std::io::{Read, Write};
use std::path::Path;

use age::secrecy::SecretString;

/// How an archive is encrypted.
pub enum Lock {
    Recipients(Vec<age::x25519::Recipient>),
    Passphrase(SecretString),
}

/// How an archive is decrypted.
pub enum Unlock {
    Identities(Vec<Box<dyn age::Identity + Send + Sync>>),
    Passphrase(SecretString),
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Invalid(String),
    #[error("wrong key: the identity or passphrase given does not open this archive")]
    WrongKey,
    #[error("this archive was encrypted with a passphrase: give --passphrase-file")]
    NeedsPassphrase,
    #[error("this archive was encrypted to a public key: give --identity with its age secret key")]
    NeedsIdentity,
    #[error("not an age-encrypted archive, or its header is damaged: {0}")]
    Header(String),
}

fn read(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|e| KeyError::Invalid(format!("cannot read {}: {e}", path.display())))
}

/// A passphrase file: its content without the final line break, never empty.
pub fn passphrase(path: &Path) -> Result<SecretString, KeyError> {
    let text = read(path)?;
    let p = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
    if p.is_empty() {
        return Err(KeyError::Invalid(format!("{} is empty", path.display())));
    }
    Ok(SecretString::from(p.to_string()))
}

pub fn recipient(text: &str) -> Result<age::x25519::Recipient, KeyError> {
    let text = text.trim();
    // An identity given where a recipient belongs is a secret key: never echoed into a log.
    if text.to_ascii_uppercase().starts_with("AGE-SECRET-KEY-") {
        return Err(KeyError::Invalid(
            "an age secret key (AGE-SECRET-KEY-…) was given where a recipient (age1…, its public key) belongs; \
             give the public key (`age-keygen -y` prints it) and keep the secret key off this machine"
                .into(),
        ));
    }
    text.parse().map_err(|e| {
        // Only the start of what was given: enough to recognise it, never a whole secret.
        let shown: String = text.chars().take(12).collect();
        KeyError::Invalid(format!("`{shown}…` is not an age recipient (age1…): {e}"))
    })
}

/// A recipients file: one `age1…` per line; blank lines and `#` comments are skipped.
pub fn recipients_file(path: &Path) -> Result<Vec<age::x25519::Recipient>, KeyError> {
    let text = read(path)?;
    let list: Vec<_> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(recipient)
        .collect::<Result<_, _>>()?;
    if list.is_empty() {
        return Err(KeyError::Invalid(format!("{} names no recipient", path.display())));
    }
    Ok(list)
}

/// An age identity file (`AGE-SECRET-KEY-1…` lines, as `age-keygen` writes them).
pub fn identity_file(path: &Path) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>, KeyError> {
    let file = age::IdentityFile::from_file(path.display().to_string())
        .map_err(|e| KeyError::Invalid(format!("cannot read the identity file {}: {e}", path.display())))?;
    let ids = file
        .into_identities()
        .map_err(|e| KeyError::Invalid(format!("{}: not a usable age identity: {e}", path.display())))?;
    if ids.is_empty() {
        return Err(KeyError::Invalid(format!("{} holds no age identity", path.display())));
    }
    Ok(ids)
}

/// Starts the encrypted stream on `out`; the returned writer must be `finish`ed.
pub fn encrypt<W: Write>(lock: &Lock, out: W) -> Result<age::stream::StreamWriter<W>, KeyError> {
    let encryptor = match lock {
        Lock::Recipients(list) => age::Encryptor::with_recipients(list.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| KeyError::Invalid(format!("cannot encrypt to these recipients: {e}")))?,
        Lock::Passphrase(p) => age::Encryptor::with_user_passphrase(p.clone()),
    };
    encryptor.wrap_output(out).map_err(|e| KeyError::Invalid(format!("cannot write the archive: {e}")))
}

/// Opens the encrypted stream on `input` with `unlock`.
pub fn decrypt<R: Read>(unlock: &Unlock, input: R) -> Result<age::stream::StreamReader<R>, KeyError> {
    let d = age::Decryptor::new(input).map_err(|e| KeyError::Header(e.to_string()))?;
    let result = match (unlock, d.is_scrypt()) {
        (Unlock::Identities(_), true) => return Err(KeyError::NeedsPassphrase),
        (Unlock::Passphrase(_), false) => return Err(KeyError::NeedsIdentity),
        (Unlock::Identities(ids), false) => d.decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity)),
        (Unlock::Passphrase(p), true) => {
            let id = age::scrypt::Identity::new(p.clone());
            d.decrypt(std::iter::once(&id as &dyn age::Identity))
        }
    };
    result.map_err(|e| match e {
        age::DecryptError::NoMatchingKeys
        | age::DecryptError::DecryptionFailed
        | age::DecryptError::KeyDecryptionFailed => KeyError::WrongKey,
        other => KeyError::Header(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use age::secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn a_secret_key_given_as_a_recipient_is_refused_without_being_echoed() {
        let identity = age::x25519::Identity::generate();
        let secret = identity.to_string();
        let secret = secret.expose_secret();
        for text in [secret.to_string(), secret.to_lowercase(), format!("  {secret}\n")] {
            let e = recipient(&text).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("secret key"), "{e}");
            assert!(!e.contains(&secret[15..]), "the key is not in the message");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recipients.txt");
        std::fs::write(&path, format!("# created: today\n# public key: {}\n{secret}\n", identity.to_public())).unwrap();
        let e = recipients_file(&path).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("secret key") && !e.contains(&secret[15..]), "{e}");
        let e = recipient("not-a-key-but-a-long-typo-of-something").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("`not-a-key-bu…`"), "{e}");
        assert_eq!(
            recipient(&identity.to_public().to_string()).map(|r| r.to_string()).ok(),
            Some(identity.to_public().to_string())
        );
    }
}

//! Contact details kept in the account's own columns: the e-mail address and the phone number,
//! in one normal form so that comparing, verifying and releasing them never depends on typing.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContactError {
    #[error("invalid value for `email`: an e-mail address like nama@contoh.go.id")]
    Email,
    #[error("invalid value for `phone_number`: a phone number like 0812… or +62812…")]
    Phone,
}

/// A typed address in lower case (mailbox providers treat case alike, and a verified address must
/// compare equal to the one retyped later); `None` for an empty value, which removes it.
pub fn email(value: &str) -> Result<Option<String>, ContactError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let lower = value.to_lowercase();
    if !crate::mail::plausible_address(&lower) {
        return Err(ContactError::Email);
    }
    Ok(Some(lower))
}

/// A phone number in international form: the national trunk prefix 0 becomes +62, spaces,
/// dashes and dots go; `None` for an empty value.
pub fn phone(value: &str) -> Result<Option<String>, ContactError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let digits: String = value.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
    let normalized = if let Some(rest) = digits.strip_prefix("62") {
        format!("+62{rest}")
    } else if let Some(rest) = digits.strip_prefix('0') {
        format!("+62{rest}")
    } else {
        digits
    };
    let ok = normalized.starts_with('+')
        && !normalized.starts_with("+0")
        && (9..=16).contains(&normalized.len())
        && normalized[1..].bytes().all(|b| b.is_ascii_digit());
    if !ok {
        return Err(ContactError::Phone);
    }
    Ok(Some(normalized))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_lower_case_and_plausible() {
        assert_eq!(email(" Siti@JemberKab.go.id "), Ok(Some("siti@jemberkab.go.id".into())));
        assert_eq!(email(""), Ok(None));
        for bad in ["bukan-email", "a@b", "a b@c.id", "<a@b.id>"] {
            assert_eq!(email(bad), Err(ContactError::Email), "{bad}");
        }
    }

    #[test]
    fn phones_become_international() {
        assert_eq!(phone("0812-3456-7890"), Ok(Some("+6281234567890".into())));
        assert_eq!(phone("+62 812 3456 7890"), Ok(Some("+6281234567890".into())));
        assert_eq!(phone("6281234567890"), Ok(Some("+6281234567890".into())));
        assert_eq!(phone("  "), Ok(None));
        for bad in ["12345", "0812abc4567", "+62", "08123456789012345678"] {
            assert_eq!(phone(bad), Err(ContactError::Phone), "{bad}");
        }
    }
}

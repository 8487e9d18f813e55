//! Does a certificate belong to this account holder? BSrE certificates carry the person's name
//! and e-mail, not NIP or NIK, so the binding compares the subject's name with the account's
//! (normalised: case, spacing, punctuation and Indonesian academic and professional titles),
//! or a certificate e-mail with the account's verified address.

/// Titles written before the name without a dot (with a dot, any short abbreviation counts).
const TITLES_BEFORE: &[&str] = &["dr", "drs", "dra", "drg", "ir", "prof", "h", "hj", "hc", "kh", "ust", "ustadz"];

/// A token that is an abbreviation such as `Dr.`, `S.Kom`, `M.Si.`, `A.Md.` or `Ph.D`.
fn dotted(token: &str) -> bool {
    token.contains('.')
}

/// The name as compared: lower case, titles before and after removed (everything after the
/// first comma is titles: ", S.Kom., M.Si."), punctuation as spaces, single spaces.
pub fn normalise(name: &str) -> String {
    let name = name.split(',').next().unwrap_or("");
    let mut tokens: Vec<&str> = name.split_whitespace().collect();
    // Titles before the name, while a name remains after them.
    while tokens.len() > 1 {
        let t = tokens[0];
        let bare = t.trim_end_matches('.').to_lowercase();
        if dotted(t) || TITLES_BEFORE.contains(&bare.as_str()) {
            tokens.remove(0);
        } else {
            break;
        }
    }
    // Titles after the name written without a comma ("Budi Santoso S.Kom").
    while tokens.len() > 1
        && tokens.last().is_some_and(|t| dotted(t) && t.chars().filter(|c| c.is_alphabetic()).count() >= 2)
    {
        tokens.pop();
    }
    let joined = tokens.join(" ").to_lowercase();
    let cleaned: String = joined.chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether a certificate's common name names the account holder.
pub fn names_match(cert_cn: &str, account_name: &str) -> bool {
    let (a, b) = (normalise(cert_cn), normalise(account_name));
    !a.is_empty() && a == b
}

/// Whether one of the certificate's e-mail addresses is the account's verified one.
pub fn email_matches(cert_emails: &[String], verified: Option<&str>) -> bool {
    let Some(v) = verified.map(|v| v.trim().to_lowercase()).filter(|v| !v.is_empty()) else {
        return false;
    };
    cert_emails.iter().any(|e| e.trim().to_lowercase() == v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_case_spacing_and_punctuation_do_not_matter() {
        for (a, b) in [
            ("Siti Rahmawati", "SITI  RAHMAWATI"),
            ("Dr. Ir. Budi Santoso, M.Si.", "Budi Santoso"),
            ("Drs. H. Ahmad Fauzi, M.M.", "ahmad fauzi"),
            ("Hj. Dewi Lestari, S.E., Ak., CA", "Dewi Lestari"),
            ("dr. Rina Wulandari, Sp.A", "Rina Wulandari"),
            ("drg. Lina Marlina", "Lina Marlina"),
            ("Prof. Dr. Agus Prasetyo, Ph.D.", "Agus Prasetyo"),
            ("Andri Wijaya, S.Kom", "Andri Wijaya S.Kom."),
            ("Bayu Saputra, A.Md.", "Bayu Saputra"),
            ("Dra. Sri Mulyani, S.Pd., M.Pd.", "Sri Mulyani"),
            ("Ni Made  Ayu-Lestari", "ni made ayu lestari"),
            ("Muhammad Nur'aini, S.Kep.", "Muhammad Nur aini"),
        ] {
            assert!(names_match(a, b), "{a} ~ {b}: {} / {}", normalise(a), normalise(b));
        }
        assert!(!names_match("Siti Rahmawati", "Siti Rahmawan"));
        assert!(!names_match("Budi Santoso", "Budi"));
        assert!(!names_match("", ""));
        // A single name stays a name even when it looks like a title.
        assert_eq!(normalise("Hj."), "hj");
    }

    #[test]
    fn emails_match_only_a_verified_address() {
        let e = vec!["siti@jemberkab.go.id".to_string()];
        assert!(email_matches(&e, Some("Siti@JemberKab.go.id")));
        assert!(!email_matches(&e, Some("budi@jemberkab.go.id")));
        assert!(!email_matches(&e, None));
        assert!(!email_matches(&[], Some("siti@jemberkab.go.id")));
    }
}

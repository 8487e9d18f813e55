//! How fresh the upstream's login must be: what the application asked of Gerbang (`prompt=login`,
//! `max_age`) is asked of the upstream in turn, and its `auth_time` is checked, so an upstream
//! session someone else left open on a shared computer never answers a request for a new login.

/// Clocks of two servers differ a little; a login this much before the round trip still counts.
pub const SKEW_SECONDS: i64 = 5;

/// What the application asked of the login's freshness.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Freshness {
    /// `prompt=login`: a login after the request, whatever session exists.
    pub prompt_login: bool,
    /// `max_age`: a login at most this many seconds old.
    pub max_age: Option<i64>,
}

impl Freshness {
    pub fn of(prompt: &[String], max_age: Option<i64>) -> Freshness {
        Freshness { prompt_login: prompt.iter().any(|p| p == "login"), max_age: max_age.map(|m| m.max(0)) }
    }

    /// The parameters to add to the upstream's authorization request.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.prompt_login {
            out.push(("prompt", "login".to_string()));
        }
        if let Some(m) = self.max_age {
            out.push(("max_age", m.to_string()));
        }
        out
    }

    /// Whether an upstream login at `auth_time` answers: the round trip began at `started`, the
    /// answer is judged at `now`. Asked for freshness, an upstream that names no `auth_time`
    /// does not answer.
    pub fn answered_by(&self, auth_time: Option<i64>, started: i64, now: i64) -> bool {
        let login = self.prompt_login.then_some(started - SKEW_SECONDS);
        let age = self.max_age.map(|m| now - m - SKEW_SECONDS);
        match login.max(age) {
            None => true,
            Some(earliest) => auth_time.is_some_and(|t| t >= earliest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_is_asked_and_checked() {
        let none = Freshness::of(&[], None);
        assert!(none.params().is_empty());
        assert!(none.answered_by(None, 1000, 1010), "nothing asked: any login");

        let login = Freshness::of(&["login".into(), "consent".into()], None);
        assert_eq!(login.params(), vec![("prompt", "login".to_string())]);
        assert!(login.answered_by(Some(1001), 1000, 1010));
        assert!(login.answered_by(Some(1000 - SKEW_SECONDS), 1000, 1010), "within the skew");
        assert!(!login.answered_by(Some(1000 - SKEW_SECONDS - 1), 1000, 1010), "an older session");
        assert!(!login.answered_by(None, 1000, 1010), "no auth_time");

        let age = Freshness::of(&[], Some(300));
        assert_eq!(age.params(), vec![("max_age", "300".to_string())]);
        assert!(age.answered_by(Some(1010 - 300), 1000, 1010));
        assert!(!age.answered_by(Some(1010 - 300 - SKEW_SECONDS - 1), 1000, 1010));
        assert_eq!(Freshness::of(&[], Some(-5)).max_age, Some(0));

        let both = Freshness::of(&["login".into()], Some(3600));
        assert!(!both.answered_by(Some(900), 1000, 1010), "the stricter of the two");
    }
}

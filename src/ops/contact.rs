//! Contact details: administrators setting a person's e-mail address and phone number, and the
//! person proving an address through a link mailed to it before it counts as verified.

use serde_json::{json, Map, Value};

use super::AdminError;
use crate::identity::accounts::Account;
use crate::identity::contact;
use crate::state::AppState;
use crate::store::accounts as account_store;

/// An administrator's change of contact details, checked before anything is written. `None`
/// inside means "remove"; an unchanged value is no change at all.
#[derive(Debug, Default)]
pub(super) struct AdminContact {
    email: Option<Option<String>>,
    phone: Option<Option<String>>,
}

impl AdminContact {
    pub(super) fn check(a: &Account, email: Option<&str>, phone: Option<&str>) -> Result<AdminContact, AdminError> {
        let invalid = |e: contact::ContactError| AdminError::Invalid(e.to_string());
        let email = email.map(contact::email).transpose().map_err(invalid)?.filter(|e| *e != a.email);
        let phone = phone.map(contact::phone).transpose().map_err(invalid)?.filter(|p| *p != a.phone_number);
        Ok(AdminContact { email, phone })
    }

    /// Writes the change; returns what it was and became, for the audit record. An address an
    /// administrator types is unverified: only the person can prove it is theirs.
    pub(super) async fn apply(
        self,
        st: &AppState,
        a: &mut Account,
        now: i64,
    ) -> Result<Option<(Value, Value)>, AdminError> {
        let (mut before, mut after) = (Map::new(), Map::new());
        if let Some(email) = self.email {
            account_store::set_email(&st.db, &a.id, email.as_deref(), false, now).await?;
            before.insert("email".into(), json!(a.email));
            before.insert("email_verified".into(), json!(a.email_verified));
            a.email = email;
            a.email_verified = false;
            after.insert("email".into(), json!(a.email));
            after.insert("email_verified".into(), json!(false));
        }
        if let Some(phone) = self.phone {
            account_store::set_phone_number(&st.db, &a.id, phone.as_deref(), now).await?;
            before.insert("phone_number".into(), json!(a.phone_number));
            a.phone_number = phone;
            after.insert("phone_number".into(), json!(a.phone_number));
        }
        Ok((!before.is_empty()).then(|| (Value::Object(before), Value::Object(after))))
    }
}

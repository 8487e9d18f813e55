//! Binding a certificate to an account: the one-time challenge, the holder's proof of
//! possession, the name or e-mail match, administrators' bindings and the second
//! administrator's approval.

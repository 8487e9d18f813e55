//! Gerbang: an OpenID Connect single sign-on provider for Indonesian regional governments.

// Several certificate test modules include the test PKI (tests/it/pki.rs) by path.
#![cfg_attr(test, allow(clippy::duplicate_mod))]

pub mod app;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod cache;
pub mod certs;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod federation;
pub mod http;
pub mod identity;
pub mod ids;
pub mod limits;
pub mod mail;
pub mod master_key;
pub mod metrics;
pub mod oidc;
pub mod ops;
pub mod password;
pub mod scim;
pub mod secret;
pub mod state;
pub mod stats;
pub mod store;
pub mod theme;

pub use app::build_router;

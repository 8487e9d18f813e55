//! One integration test binary (fast to link): every module starts real servers and talks HTTP.

mod admin;
mod audit;
mod certs;
mod cli;
mod common;
mod console;
mod demo;
mod enrolment;
mod escalation;
mod factors;
mod first_run;
mod fuzz_http;
mod fuzz_parsers;
mod identity;
mod layers;
mod limits;
mod login;
mod oidc_flow;
mod protocol_errors;
mod self_service;
mod sessions;
mod spbe;
mod stats;
mod throttle;
mod tokens;
mod transactions;

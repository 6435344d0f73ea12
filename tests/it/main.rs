//! One integration-test binary: each module drives the real `gitops-action` binary
//! (or the real servers of `gitops-testkit`) for one feature.

mod build;
mod chain;
mod cli;
mod corpus;
mod git;
mod github;
mod openapi;
mod overlay;
mod registry;
mod render;
mod standin;
mod util;

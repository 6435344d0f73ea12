//! One integration-test binary: each module drives the real `gitops-action` binary
//! (or the real servers of `gitops-testkit`) for one feature.

mod build;
mod build_bench;
mod buildkit;
mod chain;
mod changed;
mod cli;
mod commit_api;
mod container;
mod corpus;
mod first_run;
mod fleet_bench;
mod git;
mod github;
mod hostile;
mod overlay;
mod readme;
mod registry;
mod release_rig;
mod render;
mod targets;
mod trains;
mod util;

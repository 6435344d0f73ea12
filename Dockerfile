# A static binary on an empty image. The builder stage needs a Rust musl toolchain
# image; this build machine can pull none, so it is built on GitHub's runners.
FROM rust:1-alpine AS builder
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin gitops-action

FROM scratch
COPY --from=builder /src/target/release/gitops-action /gitops-action
# Docker actions run as root on the runner; the workspace is mounted at /github/workspace.
ENTRYPOINT ["/gitops-action"]

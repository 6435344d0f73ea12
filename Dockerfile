# The gitops-action image: one static binary and the CA bundle on an empty image.
#
#   docker build -t gitops-action .                       # from source: the release workflow
#   scripts/build-static &&
#   podman build --target prebuilt -t gitops-action .     # from target/docker/, pulls nothing
#
# The release workflow builds linux/amd64 and linux/arm64 from source with buildx.
#
# Consumers never build this: action.yml points at the published image.
# A `--target` build skips the stages it doesn't need, which is what lets the
# prebuilt stage build on machines that cannot pull the Rust image.

# Alpine's Rust targets musl and links statically by default (amd64 and arm64).
FROM rust:1-alpine AS builder
RUN apk add --no-cache musl-dev ca-certificates
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin gitops-action \
 && cp target/release/gitops-action /gitops-action \
 && mkdir /empty \
 && /gitops-action --version

# The same image from the binary and CA bundle that scripts/build-static stages
# (`--build-arg PREBUILT=target/docker-test` for the container test's build).
FROM scratch AS prebuilt
ARG PREBUILT=target/docker
COPY ${PREBUILT}/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY ${PREBUILT}/gitops-action /gitops-action
# An empty /tmp for scratch files when `RUNNER_TEMP` is not there (outside Actions).
COPY --chmod=1777 ${PREBUILT}/tmp /tmp
# The GitHub client (octocrab: hyper-rustls with the platform's roots) finds the
# bundle through this; git's transport and the registry client carry webpki roots.
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# No USER: Docker actions run as root, the runner's workspace mount expects it.
ENTRYPOINT ["/gitops-action"]

FROM scratch
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /gitops-action /gitops-action
COPY --from=builder --chmod=1777 /empty /tmp
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
ENTRYPOINT ["/gitops-action"]

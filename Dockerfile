# syntax=docker/dockerfile:1
# Two images from one build of the statically linked binary:
#
#   docker build -t hardening-operator:0.1.0 .
#     The operator (and the default node agent): the binary on distroless/static (no shell,
#     no package manager, no libc), running as the unprivileged user 65532. This is the
#     LAST stage of the file, so it is what `docker build` builds without --target; keep it
#     last.
#
#   docker build --target node-agent-apparmor -t hardening-operator-node-agent-apparmor:0.1.0 .
#     The node agent with `apparmor_parser`, for the chart's nodeAgent.apparmor=true (set
#     nodeAgent.image.repository to it): the same binary on debian:bookworm-slim with only
#     the `apparmor` package added. It runs as root, as the chart's DaemonSet does anyway:
#     loading a profile needs CAP_MAC_ADMIN and writes to the host's /etc/apparmor.d,
#     /sys/kernel/security and the kubelet's root-owned seccomp directory.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# tests/build-static.sh holds the one cargo command (the tests build the binary with it too,
# with --profile release instead of the shipped `dist`, which adds fat LTO).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    tests/build-static.sh > /tmp/built && cp "$(tail -n 1 /tmp/built)" /hardening-operator

# Not the default target: build it with --target node-agent-apparmor.
FROM debian:bookworm-slim AS node-agent-apparmor
RUN apt-get update \
    && apt-get install -y --no-install-recommends apparmor \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /hardening-operator /hardening-operator
# Root (see the header): CAP_MAC_ADMIN for apparmor_parser, writes under host paths.
USER 0:0
ENTRYPOINT ["/hardening-operator"]
CMD ["node-agent"]

# The default target (the last stage): the operator image.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /hardening-operator /hardening-operator
USER 65532:65532
ENTRYPOINT ["/hardening-operator"]
CMD ["run"]

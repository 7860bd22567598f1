# syntax=docker/dockerfile:1
# The hardening-operator image: one statically linked binary on distroless/static (no shell,
# no package manager, no libc), running as the unprivileged user 65532.
#   docker build -t hardening-operator:0.1.0 .

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# tests/build-static.sh holds the one cargo command (the tests build the binary with it too).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    tests/build-static.sh > /tmp/built && cp "$(tail -n 1 /tmp/built)" /hardening-operator

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /hardening-operator /hardening-operator
USER 65532:65532
ENTRYPOINT ["/hardening-operator"]
CMD ["run"]

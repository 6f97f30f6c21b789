# syntax=docker/dockerfile:1
# CoffeeBuddy image: one binary, run as `serve --role api|worker|all` (default: all).
#   docker build -t "$REGISTRY/coffeebuddy:$TAG" .

# ---- build -------------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder

# rdkafka builds its own librdkafka (configure/make, OpenSSL, zlib); cmake for its fallbacks.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config zlib1g-dev libssl-dev cmake \
 && rm -rf /var/lib/apt/lists/*

# Link zlib statically: distroless cc-debian12 ships libssl3 but no libz.so.1.
ENV LIBZ_SYS_STATIC=1 \
    CARGO_TERM_COLOR=never

WORKDIR /build
COPY Cargo.toml Cargo.lock build.rs ./
# SQLX_OFFLINE=true: the query macros check against .sqlx/, so the build needs no database.
COPY .cargo/ .cargo/
COPY .sqlx/ .sqlx/
COPY src/ src/
# Compiled into the library through #[path] in src/lib.rs.
COPY jobs/ jobs/
# Embedded in the binary by sqlx::migrate!; not needed at run time.
COPY migrations/ migrations/
# Auto-discovered Cargo target (examples/fairness.rs); copied so the manifest resolves as in git.
COPY examples/ examples/

RUN cargo build --release --locked --bin coffeebuddy

# ---- runtime -----------------------------------------------------------------------
# glibc, libgcc, libssl3 and CA certificates; no shell. Runs as uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot

COPY --from=builder /build/target/release/coffeebuddy /usr/local/bin/coffeebuddy

USER nonroot:nonroot
# BIND_ADDR defaults to 0.0.0.0:8080: Slack routes, /api/v1, /healthz, /readyz, /metrics.
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/coffeebuddy"]
CMD ["serve"]

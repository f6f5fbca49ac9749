# Ballsy container image: one Rust binary on a distroless base.
#
#   docker build -t ballsy .                      # local
#   gcloud builds submit --tag IMAGE:TAG ...      # Cloud Build, see DEPLOYMENT.md
#
# Stages: chef (toolchain + cargo-chef) -> planner (dependency recipe) -> builder (dependencies
# in their own cached layer, then the sources) -> runtime (the binary only). The web page,
# its scripts and the SQL migrations are compiled into the binary, so nothing else is copied.

# Base images are pinned by digest: a tag such as rust:1.95-trixie is re-pushed with every Debian
# or Rust point release, and Cloud Build starts without a cache, so an unpinned build could pick
# up a different toolchain or C library than the one tested. The tag stays for the reader; the
# digest (the multi-platform index) decides. To move to a newer image, see "Updating the base
# images" in DEPLOYMENT.md.
#
# Debian 13 (trixie) build image, matching the glibc of the distroless runtime below. The crate
# needs Rust >= 1.94 (Cargo.toml rust-version); 1.95 is the toolchain the project is developed
# and tested with.
FROM rust:1.95-trixie@sha256:f49565f188ee00bc2a18dd418183f2c5f23ef7d6e691890517ed341a598f67c3 AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /app

# The recipe lists the workspace's manifests and targets, so it needs the whole workspace:
# Cargo.toml declares members = [".", "bench"], and without bench/Cargo.toml and bench/src the
# workspace does not load. .dockerignore keeps target/, .git, infra/ and secrets out.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# sqlx's query macros (if used) read the committed .sqlx/ metadata instead of a live database.
ENV SQLX_OFFLINE=true
COPY --from=planner /app/recipe.json recipe.json
# Dependencies only: this layer is reused until Cargo.toml or Cargo.lock change.
RUN cargo chef cook --release --locked --recipe-path recipe.json --bin ballsy
COPY . .
RUN cargo build --release --locked --bin ballsy

# glibc, libgcc, CA certificates and tzdata, no shell or package manager; runs as uid 65532.
FROM gcr.io/distroless/cc-debian13:nonroot@sha256:c31ff9abcb1910f3ab25c7957bdaf0bfe12a01eb546e8df2282f1c8f682b606c AS runtime
COPY --from=builder /app/target/release/ballsy /usr/local/bin/ballsy
# Writable home of the nonroot user: the default SQLite file (no DATABASE_URL set) lands here
# when the image is run locally. On Cloud Run DATABASE_URL points at Cloud SQL.
WORKDIR /home/nonroot
USER nonroot
# Documentation only: Cloud Run sends traffic to 8080 and sets PORT=8080, which the app reads
# (8080 is also the app's default). No HEALTHCHECK: Cloud Run ignores it and probes /health
# itself (infra/cloud_run.tf).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/ballsy"]
CMD ["serve"]

# Build: docker build -t zenhook .   Run: see docker-compose.yml
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY config ./config
COPY migrations ./migrations
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/zenhook --create-home zenhook
COPY --from=build /src/target/release/zenhook /usr/local/bin/zenhook
USER zenhook
WORKDIR /var/lib/zenhook
EXPOSE 8080
CMD ["zenhook", "serve", "--config", "/etc/zenhook/zenhook.toml"]

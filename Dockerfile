# o365-ldap container image: built in a Rust image, run from a small Debian image as a non-root
# user; the server is built without the `demo` feature, so the image holds no Graph emulator.
# Listens on 1389 (LDAP + StartTLS) and 1636 (LDAPS) inside the container, so no privilege is
# needed to bind; map them to 389/636 outside (deploy/kubernetes/service.yaml does).
# 9389 is server.http_listen (/metrics, /healthz, /readyz).
#
#   docker build -t o365-ldap .
#   docker run -v /etc/o365-ldap:/etc/o365-ldap:ro -p 389:1389 -p 636:1636 o365-ldap
#
# The configuration is read from /etc/o365-ldap/o365-ldap.toml; server.data_dir should be
# /var/lib/o365-ldap (a volume: the store, or a replica's cache with [store] backend =
# "postgres"), server.admin_socket /run/o365-ldap/admin.sock.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --no-default-features --features mimalloc --bin o365-ldap \
 && strip target/release/o365-ldap

FROM debian:bookworm-slim
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 o365-ldap \
 && useradd --system --uid 10001 --gid o365-ldap --home-dir /var/lib/o365-ldap --shell /usr/sbin/nologin o365-ldap \
 && install -d -o o365-ldap -g o365-ldap -m 0700 /var/lib/o365-ldap \
 && install -d -o o365-ldap -g o365-ldap -m 0750 /run/o365-ldap \
 && install -d -m 0755 /etc/o365-ldap
COPY --from=build /src/target/release/o365-ldap /usr/local/bin/o365-ldap
USER 10001:10001
VOLUME ["/var/lib/o365-ldap"]
EXPOSE 1389 1636 9389
# `o365-ldap healthcheck` asks the server's /readyz (server.http_listen, e.g. "0.0.0.0:9389")
# and exits 0 when every tenant has a directory served that is not stale.
HEALTHCHECK --interval=15s --timeout=6s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/o365-ldap", "healthcheck", "-c", "/etc/o365-ldap/o365-ldap.toml"]
ENTRYPOINT ["/usr/local/bin/o365-ldap"]
CMD ["serve", "-c", "/etc/o365-ldap/o365-ldap.toml"]

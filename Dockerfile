# The worker image (SPEC §7): a static binary on an empty base. There is no image
# registry here, so nothing is pulled and there is no build stage: `make docker` builds
# the binary on the host (CGO_ENABLED=0) and copies the host's CA bundle into bin/:
#
#   bin/worker                  CGO_ENABLED=0 go build -trimpath -o bin/worker ./cmd/worker
#   bin/ca-certificates.crt     cp /etc/ssl/certs/ca-certificates.crt bin/
#   bin/docker-data/            an empty directory: /data, writable by the worker's user
#
#   docker build -t tiktok-events-worker:dev .
#
# The image runs as the unprivileged numeric user 65532 (no /etc/passwd needed).
FROM scratch

ARG VERSION=dev
LABEL org.opencontainers.image.title="tiktok-events-worker" \
      org.opencontainers.image.description="Delivers conversion events from NATS JetStream to the TikTok Events API" \
      org.opencontainers.image.version="${VERSION}"

# Go's crypto/x509 reads this path on Linux: TLS to TikTok and to NATS.
COPY bin/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY bin/worker /worker
# The working directory is writable, so that without NATS_URL the embedded JetStream
# server can store under ./data (/data/data); mount a volume on /data to keep it.
COPY --chown=65532:65532 bin/docker-data/ /data/
WORKDIR /data

USER 65532:65532
# /healthz /readyz /metrics when http.listen is 0.0.0.0:8080 (the default listens on
# 127.0.0.1, which is unreachable from outside the container).
EXPOSE 8080
ENTRYPOINT ["/worker"]
CMD ["run", "--config", "/etc/worker/config.yaml"]

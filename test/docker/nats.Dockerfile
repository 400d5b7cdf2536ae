# A nats-server image built FROM scratch out of a static binary, for machines with no
# image registry (SPEC §7). docker-compose.yml uses it through NATS_IMAGE:
#
#   CGO_ENABLED=0 go build -trimpath -o bin/nats-server github.com/nats-io/nats-server/v2
#   docker build -f test/docker/nats.Dockerfile -t tiktok-events-nats:dev .
#   NATS_IMAGE=tiktok-events-nats:dev docker compose up
#
# The version is the one go.mod pins. Like the official image, `-js -sd /data` as the
# command enables JetStream storing under /data.
FROM scratch
COPY bin/nats-server /nats-server
COPY --chown=65532:65532 bin/docker-data/ /data/
USER 65532:65532
EXPOSE 4222 8222
ENTRYPOINT ["/nats-server"]
CMD ["-js", "-sd", "/data"]

// Package docker holds the container tests of SPEC §7 (in docker_test.go): the worker
// and nats-server images built FROM scratch out of static binaries built on the host,
// and the docker-compose.yml pipeline end to end (docker_test.go), and the 3-node
// JetStream cluster of deploy/compose losing its rows stream's leader and a worker
// replica in the middle of a backlog (cluster_test.go).
//
// They need a Docker Engine and run only when DOCKER_TESTS=1:
//
//	DOCKER_TESTS=1 go test -v -count=1 -timeout 15m ./test/docker/
//
// Image tags come from WORKER_IMAGE (default tiktok-events-worker:dev) and NATS_IMAGE
// (default tiktok-events-nats:dev). Every published port is on 127.0.0.1.
package docker

# syntax=docker/dockerfile:1
# CoreDNS with the etcdhosts plugin, plus dnsctl, built by ./build.sh: the same script
# and the same pinned CoreDNS version as the release tarballs. The image runs what the
# amd64 (or arm64, on an arm64 builder) tarball contains.
#
#   docker build --build-arg ETCDHOSTS_GIT_COMMIT="$(git rev-parse --short HEAD)" -t etcdhosts .
#   docker build --build-arg COREDNS_VERSION=v1.12.4 -t etcdhosts:coredns-1.12.4 .
#   docker run -d -e ETCD_ENDPOINT=http://10.0.0.1:2379 -e ETCDCTL_ENDPOINTS=http://10.0.0.1:2379 \
#     -p 53:53/udp -p 53:53/tcp etcdhosts
#   docker run --rm -it --entrypoint dnsctl -e ETCDCTL_ENDPOINTS=http://10.0.0.1:2379 etcdhosts list
#
# The default Corefile (packaging/docker/Corefile) takes the etcd endpoint and key from
# ETCD_ENDPOINT and ETCDHOSTS_KEY; mount your own at /etc/coredns/Corefile for more.
# CoreDNS runs as the unprivileged user coredns (uid 1053); binding port 53 works through
# the file capability CAP_NET_BIND_SERVICE (as in CoreDNS's own image), so do not drop
# NET_BIND_SERVICE from the container's capabilities.

ARG RUST_VERSION=1.95.0
ARG GO_VERSION=1.26.8
ARG DEBIAN_VERSION=bookworm

FROM golang:${GO_VERSION}-${DEBIAN_VERSION} AS go

FROM rust:${RUST_VERSION}-${DEBIAN_VERSION} AS build
# Empty: build.sh's pinned default CoreDNS version.
ARG COREDNS_VERSION=
# The commit the binaries report (the build context has no .git).
ARG ETCDHOSTS_GIT_COMMIT=unknown
# The build's Debian packages, as ./run.sh and ./test.sh install them (protoc and the
# well-known .proto files), and setcap.
COPY scripts/deps.sh /usr/local/bin/etcdhosts-deps
RUN etcdhosts-deps build \
 && apt-get update \
 && apt-get install -y --no-install-recommends libcap2-bin \
 && rm -rf /var/lib/apt/lists/*
COPY --from=go /usr/local/go /usr/local/go
ENV PATH=/usr/local/go/bin:$PATH
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/root/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    ./build.sh ${COREDNS_VERSION} \
 && mkdir /out \
 && tar -xzf build/coredns_*_linux_*.tgz -C /out \
 && setcap cap_net_bind_service=+ep /out/coredns

FROM debian:${DEBIAN_VERSION}-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 1053 coredns \
 && useradd --system --uid 1053 --gid coredns --home-dir /var/lib/coredns \
        --shell /usr/sbin/nologin --comment "CoreDNS DNS server" coredns \
 && install -d -o coredns -g coredns -m 0750 /var/lib/coredns \
 && install -d -m 0755 /etc/coredns /usr/share/doc/etcdhosts
COPY --from=build /out/coredns /out/dnsctl /usr/bin/
COPY --from=build /out/README.md /out/LICENSE /out/Corefile.example /usr/share/doc/etcdhosts/
COPY packaging/docker/Corefile /etc/coredns/Corefile
# dnsctl reads etcdctl's variables (no config file needed): give ETCDCTL_ENDPOINTS the
# same endpoint as ETCD_ENDPOINT, e.g. docker run -e ETCD_ENDPOINT=URL -e ETCDCTL_ENDPOINTS=URL.
ENV ETCD_ENDPOINT=http://127.0.0.1:2379 \
    ETCDHOSTS_KEY=/etcdhosts \
    ETCDCTL_ENDPOINTS=http://127.0.0.1:2379 \
    DNSCTL_HOSTS_KEY=/etcdhosts
USER 1053:1053
WORKDIR /var/lib/coredns
# DNS, metrics (prometheus), liveness (health: /health) and readiness (ready: /ready).
EXPOSE 53/udp 53/tcp 9153 8080 8181
ENTRYPOINT ["/usr/bin/coredns"]
CMD ["-conf", "/etc/coredns/Corefile"]

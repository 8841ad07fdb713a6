# The control-plane images kubeadm v1.34 runs, built from the locally compiled binaries
# (scripts/kind/binaries.sh) because no registry is reachable. One target per image; the
# tags are the exact names `kubeadm config images list` prints (scripts/kind/node-image.sh).
# Context: build/kind-context (bin/ = the staged binaries, pause.c from k8s.io/kubernetes).
ARG BASE_IMAGE=lakehouse/debian:bookworm

# Static Go binaries need nothing but themselves (upstream uses distroless/static). Static pods
# name their command without a path, so PATH must be set; WORKDIR gives them a /tmp.
FROM scratch AS kube-apiserver
COPY bin/kube-apiserver /usr/local/bin/kube-apiserver
ENV PATH=/usr/local/bin
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/kube-apiserver"]

FROM scratch AS kube-controller-manager
COPY bin/kube-controller-manager /usr/local/bin/kube-controller-manager
ENV PATH=/usr/local/bin
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/kube-controller-manager"]

FROM scratch AS kube-scheduler
COPY bin/kube-scheduler /usr/local/bin/kube-scheduler
ENV PATH=/usr/local/bin
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/kube-scheduler"]

FROM scratch AS etcd
COPY bin/etcd /usr/local/bin/etcd
ENV PATH=/usr/local/bin
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/etcd"]

FROM scratch AS coredns
COPY bin/coredns /coredns
ENTRYPOINT ["/coredns"]

# kube-proxy programs iptables and conntrack: it needs them from a real userland.
FROM ${BASE_IMAGE} AS kube-proxy
RUN export DEBIAN_FRONTEND=noninteractive && apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends iptables conntrack ipset kmod nftables >/dev/null \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY bin/kube-proxy /usr/local/bin/kube-proxy

# pause: Kubernetes' own pause.c, linked statically.
FROM ${BASE_IMAGE} AS pause-build
RUN export DEBIAN_FRONTEND=noninteractive && apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
ARG PAUSE_IMAGE_TAG
COPY pause.c /src/pause.c
RUN gcc -Os -Wall -Werror -static -DVERSION=v${PAUSE_IMAGE_TAG} -o /pause /src/pause.c && strip /pause

FROM scratch AS pause
COPY --from=pause-build /pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]

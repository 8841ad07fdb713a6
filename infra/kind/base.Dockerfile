# lakehouse/kind-base:<KIND_VERSION>: kind's base image (sigs.k8s.io/kind images/base) rebuilt
# on the local Debian bookworm base, because no registry is reachable here. Same apt set and
# kind files as upstream; containerd, runc and the CNI plugins come from Debian instead of
# being compiled from GitHub (containerd 1.6 reads kind's `version = 2` config).
# Built by scripts/kind/node-image.sh; context = build/kind-context (kind's files/, our own).
ARG BASE_IMAGE=lakehouse/debian:bookworm
FROM ${BASE_IMAGE}

RUN export DEBIAN_FRONTEND=noninteractive && apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold \
      systemd conntrack iptables nftables iproute2 ethtool util-linux mount kmod \
      libseccomp2 pigz fuse-overlayfs bash ca-certificates curl jq procps \
      containerd runc containernetworking-plugins >/dev/null \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \
    && rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
       /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
       /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \
    && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \
    && ln -sf "$(which systemd)" /sbin/init

# kind's files after the packages: they replace the packages' own containerd config and units.
COPY kind-files/usr/local/bin/ /usr/local/bin/
COPY kind-files/kind/ /kind/
COPY kind-files/etc/ /etc/
RUN chmod 0755 /usr/local/bin/* /kind/bin /kind/bin/* \
    && find /etc/containerd /etc/default /etc/sysctl.d /etc/systemd /etc/crictl.yaml -type f -exec chmod 0644 {} +

# kind's units and scripts expect upstream's paths (/usr/local/bin/containerd,
# /opt/cni/bin). Debian's containerd lacks the fuse-overlayfs snapshotter (rootless only).
RUN ln -s /usr/bin/containerd /usr/local/bin/containerd \
    && ln -s /usr/bin/ctr /usr/local/bin/ctr \
    && ln -s /usr/bin/containerd-shim-runc-v2 /usr/local/bin/containerd-shim-runc-v2 \
    && mkdir -p /opt/cni/bin && for p in /usr/lib/cni/*; do ln -s "$p" /opt/cni/bin/; done \
    && rm -f /etc/systemd/system/containerd-fuse-overlayfs.service \
    && sed -i '/^\[proxy_plugins\]/,/^  address = /d' /etc/containerd/config.toml \
    && ctr oci spec \
       | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
       | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json

# This machine's container runtime cannot grant CAP_SYS_RESOURCE, nor lower oom_score_adj
# (which needs it): every privileged pod asks for the capability, and containerd's unit and
# the kubelet's critical pods ask for negative scores. The wrapper strips the capability
# before runc runs (as scripts/images/docker-up.sh does for dockerd on the host);
# restrict_oom_score_adj clamps pod scores to containerd's own; the drop-in resets the unit's.
COPY node/runc-wrapper.sh /usr/local/sbin/lakehouse-runc
COPY node/containerd-oom.conf /etc/systemd/system/containerd.service.d/10-lakehouse-oom.conf
RUN chmod 0755 /usr/local/sbin/lakehouse-runc \
    && sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' /etc/containerd/config.toml \
    && sed -i 's|^\(\s*\)SystemdCgroup = true|&\n\1BinaryName = "/usr/local/sbin/lakehouse-runc"|' /etc/containerd/config.toml \
    && grep -q 'BinaryName = "/usr/local/sbin/lakehouse-runc"' /etc/containerd/config.toml \
    && containerd --version && runc --version | head -1

# A single-node cluster needs no overlay network: the bridge plugin on the node is the CNI
# (kind's default kindnetd is a Go module the proxy does not serve; docs/kind.md).
COPY node/10-lakehouse-bridge.conflist /etc/cni/net.d/10-lakehouse-bridge.conflist

RUN systemctl enable kubelet.service containerd.service undo-mount-hacks.service \
    && systemctl mask systemd-binfmt.service \
    && mkdir -p /etc/kubernetes/manifests

ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]

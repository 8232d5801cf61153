# shmqd in a container: Debian 12, the daemon from shmq's own Debian
# packages (debian/), built in the first stage from this tree.
#
#   docker build -t shmqd .
#   docker run -d --name shmqd --init --pid=host -v shmq-run:/run/shmq shmqd
#
# Clients in other containers mount the same volume at /run/shmq (the
# socket); nothing else is shared: channels are memfds that shmqd passes
# over the socket. --pid=host lets shmqd see its clients' pids; see
# docs/CONTAINERS.md for why, and for the other choices.

FROM debian:12 AS build
# debian/control's Build-Depends, and the tools that read it
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	build-essential dpkg-dev debhelper \
	meson ninja-build pkg-config liburing-dev libnuma-dev libmicrohttpd-dev libjansson-dev \
	libnats-dev dh-python python3-dev python3-cffi \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build/shmq
COPY . .
RUN DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b \
 && mkdir /debs \
 && cp ../shmq_*.deb ../libshmq0_*.deb ../libshmq-dev_*.deb ../python3-shmq_*.deb /debs/

FROM debian:12
COPY --from=build /debs /tmp/debs
# apt resolves the packages' own dependencies (liburing2, libnuma1, ...)
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	/tmp/debs/shmq_*.deb /tmp/debs/libshmq0_*.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/debs \
 && mkdir -p -m 0755 /run/shmq
# the socket directory, shared with the clients' containers
VOLUME /run/shmq
# SIGTERM stops shmqd cleanly (the channels end with it)
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/sbin/shmqd"]
CMD ["--socket", "/run/shmq/shmqd.sock"]

#!/usr/bin/env bash
# A 3-node NATS JetStream cluster on this machine, from the nats-server
# pinned in go.mod (built once into var/bin/), for `make run CLUSTER=1` and
# for anyone who wants to look at the system on a cluster.
#
#   scripts/cluster.sh start   three nodes, client ports CLUSTER_PORT (14222) .. +2,
#                              route ports CLUSTER_ROUTE_PORT (16222) .. +2,
#                              monitoring CLUSTER_HTTP_PORT (18222) .. +2,
#                              stores under var/nats-cluster/n1..n3, logs var/log/nats-n*.log;
#                              prints the NATS_URL to use (every node, comma-separated)
#   scripts/cluster.sh url     that NATS_URL
#   scripts/cluster.sh stop    stop the three nodes
#
# CLUSTER_DIR moves the stores and pid files, NATS_SERVER_BIN names a
# nats-server binary to use instead.
#
# Kill one node (kill $(cat var/nats-cluster/n1.pid)) and start it again
# with `start`: it rejoins and catches up. Streams need STREAM_REPLICAS=3.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dir=${CLUSTER_DIR:-$root/var/nats-cluster}
logs=${LOG_DIR:-$root/var/log}
port=${CLUSTER_PORT:-14222}
rport=${CLUSTER_ROUTE_PORT:-16222}
hport=${CLUSTER_HTTP_PORT:-18222}
bin=${NATS_SERVER_BIN:-$root/var/bin/nats-server}

url() {
	local urls=()
	for i in 0 1 2; do urls+=("nats://127.0.0.1:$((port + i))"); done
	(IFS=,; echo "${urls[*]}")
}

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

case ${1:-} in
start)
	mkdir -p "$dir" "$logs" "$(dirname "$bin")"
	[ -x "$bin" ] || go build -o "$bin" github.com/nats-io/nats-server/v2
	routes="nats://127.0.0.1:$rport,nats://127.0.0.1:$((rport + 1)),nats://127.0.0.1:$((rport + 2))"
	for i in 0 1 2; do
		n=n$((i + 1))
		if [ -f "$dir/$n.pid" ] && kill -0 "$(cat "$dir/$n.pid")" 2>/dev/null; then continue; fi
		mkdir -p "$dir/$n"
		"$bin" -a 127.0.0.1 -p $((port + i)) -m $((hport + i)) -js -sd "$dir/$n" --name "$n" \
			--cluster_name authevents --cluster "nats://127.0.0.1:$((rport + i))" --routes "$routes" \
			-l "$logs/nats-$n.log" -P "$dir/$n.pid" &
		disown
	done
	for i in 0 1 2; do
		for _ in $(seq 1 100); do up $((port + i)) && break; sleep 0.1; done
		up $((port + i)) || { echo "nats node n$((i + 1)) did not start; see $logs/nats-n$((i + 1)).log" >&2; exit 1; }
	done
	# JetStream answers once a meta leader is elected.
	for _ in $(seq 1 150); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$hport" && printf 'GET /healthz?js-enabled-only=true HTTP/1.0\r\n\r\n' >&3 && grep -q '"ok"' <&3) 2>/dev/null; then
			echo "nats cluster: up, NATS_URL=$(url)"
			exit 0
		fi
		sleep 0.2
	done
	echo "nats cluster: JetStream did not become ready; see $logs/nats-n*.log" >&2
	exit 1
	;;
url) url ;;
stop)
	for n in n1 n2 n3; do
		if [ -f "$dir/$n.pid" ]; then
			pid=$(cat "$dir/$n.pid")
			kill "$pid" 2>/dev/null || true
			for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			rm -f "$dir/$n.pid"
		fi
	done
	echo "nats cluster: stopped"
	;;
*) echo "usage: $0 start|url|stop" >&2; exit 2 ;;
esac

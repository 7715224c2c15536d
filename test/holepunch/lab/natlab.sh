#!/usr/bin/env bash
# NAT lab for the peer-connection tests: network namespaces with Linux NATs, all traffic inside them.
#
#   natlab.sh up NAT1 NAT2 [same|routed]
#                                   NAT: cone (MASQUERADE: port-preserving, endpoint-independent mapping,
#                                   port-restricted filtering), symmetric (MASQUERADE --random-fully),
#                                   fullcone (MASQUERADE plus a DNAT of UDP 4000 to the host behind it),
#                                   restricted (address-restricted cone: that DNAT only for addresses the host
#                                   has sent to),
#                                   bare (MASQUERADE with no firewall of its own: unsolicited traffic to
#                                   the router itself is taken, as on a Docker host or a cloud NAT instance)
#                                   symmetric-upnp (symmetric, with Debian's miniupnpd on the router answering
#                                   PCP, NAT-PMP and UPnP IGD on its LAN),
#                                   cgnat (a carrier-grade NAT, symmetric, with a home router behind it: the
#                                   worker sits behind two NATs, the cone one at home on 10.N.0.0/24, the
#                                   carrier's on 100.64.N.0/24),
#                                   cgnat-deep (the same with the carrier's NAT one hop further: an access
#                                   router, hp-aN, between it and the home router, whose WAN is 100.65.N.2),
#                                   ipv6 (dual stack: IPv4 symmetric, IPv6 routed through a stateful firewall
#                                   that lets in only what answers traffic from inside: no NAT, 2001:db8:N::/64)
#                                   "same" adds hp-h3 on router 1's LAN, beside hp-h1.
#                                   "routed" puts two routers, hp-t1 and hp-t2, between the NATs (as real
#                                   paths have): r1 - t1 - t2 - r2, the rendezvous beside t1.
#   natlab.sh down                  removes every hp-* namespace (and so every link in them)
#
#   hp-pub   203.0.113.1 and .2 on bridge br0: the "internet" (rendezvous, STUN)
#   hp-rN    wanN 203.0.113.1N  <->  LAN bridge brl 10.N.0.1/24     (the NAT)
#   hp-hN    eth0 10.N.0.2/24, default route via 10.N.0.1           (a worker)
#   IPv6 (ipv6 routers): hp-pub 2001:db8::1 (a STUN server), LAN 2001:db8:N::/64, worker 2001:db8:N::2
set -euo pipefail

down() {
  for pid in $(cat /tmp/hp-miniupnpd-*.pid 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  rm -f /tmp/hp-miniupnpd-* /tmp/hp-v6-r* /tmp/hp-cgnat-r*
  for ns in $(ip netns list | awk '{print $1}' | grep '^hp-' || true); do ip netns del "$ns" || true; done
}

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

host() {   # host NAME ROUTER ADDR
  local name=$1 r=$2 addr=$3 gw="hp-r$2"
  [ -e "/tmp/hp-cgnat-r$r" ] && gw="hp-g$r"        # behind the home router, behind the carrier's NAT
  ip netns add "$name"
  in_ns "$name" ip link set lo up
  ip link add eth0 netns "$name" type veth peer name "l-$name" netns "$gw"
  in_ns "$gw" ip link set "l-$name" master brl up
  in_ns "$name" ip addr add "$addr/24" dev eth0
  in_ns "$name" ip link set eth0 up
  in_ns "$name" ip route add default via "10.$r.0.1"
  if [ -e "/tmp/hp-v6-r$r" ]; then
    in_ns "$name" ip -6 addr add "2001:db8:$r::${addr##*.}/64" dev eth0 nodad
    in_ns "$name" ip -6 route add default via "2001:db8:$r::1"
  fi
}

inner_router() {   # inner_router NS UP IF ADDR VIA LAN: a router NS whose uplink IF (ADDR/24, default via VIA) is on UP's
                   # LAN bridge, and which routes its own LAN bridge (LAN/24) behind it
  local ns=$1 up=$2 if=$3 addr=$4 via=$5 lan=$6
  ip netns add "$ns"
  in_ns "$ns" ip link set lo up
  ip link add "$if" netns "$ns" type veth peer name "l-$if" netns "$up"
  in_ns "$up" ip link set "l-$if" master brl up
  in_ns "$ns" ip addr add "$addr/24" dev "$if"
  in_ns "$ns" ip link set "$if" up
  in_ns "$ns" ip route add default via "$via"
  in_ns "$ns" ip link add brl type bridge
  in_ns "$ns" ip addr add "$lan/24" dev brl
  in_ns "$ns" ip link set brl up
  in_ns "$ns" sysctl -qw net.ipv4.ip_forward=1
}

home_router() {   # home_router N [deep]: hp-gN, a cone NAT on 10.N.0.0/24 whose WAN is on the carrier NAT's LAN (100.64.N.0/24),
                  # or, deep, on an access router's (hp-aN, 100.65.N.0/24) one hop below the carrier's NAT
  local r=$1 ns="hp-g$1"
  touch "/tmp/hp-cgnat-r$r"
  if [ "${2:-}" = deep ]; then
    inner_router "hp-a$r" "hp-r$r" "au$r" "100.64.$r.3" "100.64.$r.1" "100.65.$r.1"
    in_ns "hp-r$r" ip route add "100.65.$r.0/24" via "100.64.$r.3"
    inner_router "$ns" "hp-a$r" "gw$r" "100.65.$r.2" "100.65.$r.1" "10.$r.0.1"
  else
    inner_router "$ns" "hp-r$r" "gw$r" "100.64.$r.2" "100.64.$r.1" "10.$r.0.1"
  fi
  in_ns "$ns" iptables -A INPUT -i "gw$r" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  in_ns "$ns" iptables -A INPUT -i "gw$r" -j DROP
  in_ns "$ns" iptables -t nat -A POSTROUTING -o "gw$r" -j MASQUERADE
}

ipv6_on() {   # ipv6_on N: router N routes 2001:db8:N::/64 behind a stateful firewall (RFC 6092's "allow established, drop new inbound")
  local r=$1 ns="hp-r$1"
  touch "/tmp/hp-v6-r$r"
  in_ns "$ns" sysctl -qw net.ipv6.conf.all.forwarding=1
  in_ns "$ns" ip -6 addr add "2001:db8:$r::1/64" dev brl nodad
  if [ "${ROUTED:-0}" = 1 ]; then
    in_ns "$ns" ip -6 addr add "2001:db8:ff$r::2/64" dev "wan$r" nodad
    in_ns "$ns" ip -6 route add default via "2001:db8:ff$r::1"
    in_ns "hp-t$r" ip -6 addr add "2001:db8:ff$r::1/64" dev "tr$r" nodad
    in_ns "hp-t$r" ip -6 route add "2001:db8:$r::/64" via "2001:db8:ff$r::2"
  else
    in_ns "$ns" ip -6 addr add "2001:db8::1$r/64" dev "wan$r" nodad
    in_ns "$ns" ip -6 route add default via 2001:db8::1
    in_ns hp-pub ip -6 route add "2001:db8:$r::/64" via "2001:db8::1$r"
  fi
  in_ns "$ns" ip6tables -A FORWARD -i "wan$r" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  in_ns "$ns" ip6tables -A FORWARD -i "wan$r" -p ipv6-icmp -j ACCEPT
  in_ns "$ns" ip6tables -A FORWARD -i "wan$r" -j DROP
}

# miniupnpd refuses to map on a WAN address in a reserved range (documentation ranges included:
# getifaddr.c's addr_is_reserved), so a router that runs it gets 11.0.0.1N, which is reserved for
# nothing and never leaves these namespaces; every other router and the "internet" route to it.
wan_ip() { if [ "$2" = symmetric-upnp ]; then echo "11.0.0.1$1"; else echo "203.0.113.1$1"; fi; }

router() {   # router N NAT
  local r=$1 nat=$2 ns="hp-r$1" ip
  ip=$(wan_ip "$1" "$2")
  ip netns add "$ns"
  in_ns "$ns" ip link set lo up
  if [ "${ROUTED:-0}" = 1 ]; then
    # A point-to-point link to transit router t$r; every address one hop away answers by proxy ARP.
    ip link add "wan$r" netns "$ns" type veth peer name "tr$r" netns "hp-t$r"
    in_ns "$ns" ip addr add "$ip/32" dev "wan$r"
    in_ns "$ns" ip link set "wan$r" up
    in_ns "$ns" ip route add default dev "wan$r"
    in_ns "hp-t$r" ip link set "tr$r" up
    in_ns "hp-t$r" ip addr add "192.0.2.$r/32" dev "tr$r"
    in_ns "hp-t$r" sysctl -qw "net.ipv4.conf.tr$r.proxy_arp=1"
    in_ns "hp-t$r" ip route add "$ip/32" dev "tr$r"
  else
    ip link add "wan$r" netns "$ns" type veth peer name "pw$r" netns hp-pub
    in_ns hp-pub ip link set "pw$r" master br0 up
    in_ns "$ns" ip addr add "$ip/24" dev "wan$r"
    in_ns "$ns" ip link set "wan$r" up
    in_ns "$ns" ip route add 203.0.113.0/24 dev "wan$r" 2>/dev/null || true
    in_ns "$ns" ip route add 11.0.0.0/24 dev "wan$r" 2>/dev/null || true
  fi
  in_ns "$ns" ip link add brl type bridge
  if [ "${nat%-deep}" = cgnat ]; then in_ns "$ns" ip addr add "100.64.$r.1/24" dev brl; else in_ns "$ns" ip addr add "10.$r.0.1/24" dev brl; fi
  in_ns "$ns" ip link set brl up
  in_ns "$ns" sysctl -qw net.ipv4.ip_forward=1
  # As home routers do (OpenWrt's wan zone: input REJECT): unsolicited traffic to the router itself
  # is refused in the filter table, so it never confirms a conntrack entry. Without this, a peer's
  # probe that arrives before our own first packet would hold our port and force a new mapping.
  in_ns "$ns" iptables -A INPUT -i "wan$r" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  in_ns "$ns" iptables -A INPUT -i "wan$r" -j DROP
  case "$nat" in
    cone)      in_ns "$ns" iptables -t nat -A POSTROUTING -o "wan$r" -j MASQUERADE ;;
    symmetric) in_ns "$ns" iptables -t nat -A POSTROUTING -o "wan$r" -j MASQUERADE --random-fully ;;
    fullcone)  in_ns "$ns" iptables -t nat -A POSTROUTING -o "wan$r" -j MASQUERADE
               in_ns "$ns" iptables -t nat -A PREROUTING -i "wan$r" -p udp --dport 4000 -j DNAT --to-destination "10.$r.0.2:4000" ;;
    bare)      in_ns "$ns" iptables -F INPUT      # no firewall: the router takes what comes to it
               in_ns "$ns" iptables -t nat -A POSTROUTING -o "wan$r" -j MASQUERADE ;;
    symmetric-upnp)
               in_ns "$ns" iptables -t nat -A POSTROUTING -o "wan$r" -j MASQUERADE --random-fully
               miniupnpd_on "$r" ;;
    restricted)   # address-restricted cone (RFC 4787 §5 "address-dependent filtering"): the worker's port
                  # takes datagrams from any port of an address it has sent to
               in_ns "$ns" iptables -t nat -A POSTROUTING -o "wan$r" -j MASQUERADE
               in_ns "$ns" iptables -A FORWARD -o "wan$r" -s "10.$r.0.2" -p udp --sport 4000 -m recent --name hp_sent --rdest --set
               in_ns "$ns" iptables -t nat -A PREROUTING -i "wan$r" -p udp --dport 4000 -m recent --name hp_sent --rsource --rcheck \
                 -j DNAT --to-destination "10.$r.0.2:4000" ;;
    cgnat)     in_ns "$ns" iptables -t nat -A POSTROUTING -o "wan$r" -j MASQUERADE --random-fully
               home_router "$r" ;;
    cgnat-deep) in_ns "$ns" iptables -t nat -A POSTROUTING -o "wan$r" -j MASQUERADE --random-fully
               home_router "$r" deep ;;
    ipv6)      in_ns "$ns" iptables -t nat -A POSTROUTING -o "wan$r" -j MASQUERADE --random-fully
               ipv6_on "$r" ;;
    *) echo "natlab: unknown NAT type '$nat' (cone, symmetric, fullcone, restricted, bare, symmetric-upnp, cgnat, cgnat-deep, ipv6)" >&2; exit 2 ;;
  esac
}

miniupnpd_on() {   # miniupnpd N: Debian's miniupnpd on router N (PCP, NAT-PMP, UPnP IGD on its LAN)
  local r=$1 ns="hp-r$1" conf="/tmp/hp-miniupnpd-r$1.conf"
  command -v miniupnpd >/dev/null || [ -x /usr/sbin/miniupnpd ] || { echo "natlab: miniupnpd is not installed (apt-get install miniupnpd-iptables)" >&2; exit 2; }
  /usr/sbin/miniupnpd --version 2>&1 | grep -q iptables \
    || { echo "natlab: this miniupnpd is not the iptables build the lab's routers use ($(/usr/sbin/miniupnpd --version 2>&1 | tail -1)): apt-get install miniupnpd-iptables" >&2; exit 2; }
  # The chains its iptables backend adds rules to (what Debian's init script creates).
  local ipt=iptables-legacy       # its iptables backend links libiptc: the legacy tables
  in_ns "$ns" $ipt -t nat -N MINIUPNPD
  in_ns "$ns" $ipt -t nat -I PREROUTING -i "wan$r" -j MINIUPNPD
  in_ns "$ns" $ipt -t nat -N MINIUPNPD-POSTROUTING
  in_ns "$ns" $ipt -t nat -I POSTROUTING -o "wan$r" -j MINIUPNPD-POSTROUTING
  in_ns "$ns" $ipt -t mangle -N MINIUPNPD
  in_ns "$ns" $ipt -t mangle -I PREROUTING -i "wan$r" -j MINIUPNPD
  in_ns "$ns" $ipt -N MINIUPNPD
  in_ns "$ns" $ipt -I FORWARD -i "wan$r" ! -o "wan$r" -j MINIUPNPD
  in_ns "$ns" iptables -I INPUT -i brl -p udp --dport 5351 -j ACCEPT
  cat > "$conf" <<CONF
ext_ifname=wan$r
listening_ip=brl
port=5000
enable_natpmp=yes
enable_upnp=yes
secure_mode=yes
system_uptime=no
uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07$r
allow 1024-65535 10.$r.0.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
CONF
  in_ns "$ns" ip route add 239.0.0.0/8 dev brl 2>/dev/null || true
  in_ns "$ns" /usr/sbin/miniupnpd -f "$conf" -P "/tmp/hp-miniupnpd-r$r.pid" >"/tmp/hp-miniupnpd-r$r.log" 2>&1
}

transit() {   # hp-t1 and hp-t2 between the NATs; the "internet" bridge hangs off t1
  local t
  for t in 1 2; do
    ip netns add "hp-t$t"
    in_ns "hp-t$t" ip link set lo up
    in_ns "hp-t$t" sysctl -qw net.ipv4.ip_forward=1
  done
  ip link add t12 netns hp-t1 type veth peer name t21 netns hp-t2
  in_ns hp-t1 ip link set t12 up
  in_ns hp-t2 ip link set t21 up
  # Each transit router's own address (ARP needs a sender address; ICMP time-exceeded comes from it).
  in_ns hp-t1 ip addr add 192.0.2.1/32 dev t12
  in_ns hp-t2 ip addr add 192.0.2.2/32 dev t21
  in_ns hp-t1 sysctl -qw net.ipv4.conf.t12.proxy_arp=1
  in_ns hp-t2 sysctl -qw net.ipv4.conf.t21.proxy_arp=1
  in_ns hp-t1 ip route add 203.0.113.12/32 dev t12
  in_ns hp-t1 ip route add 11.0.0.12/32 dev t12
  in_ns hp-t2 ip route add default dev t21
  ip link add tp netns hp-t1 type veth peer name pt netns hp-pub
  in_ns hp-t1 ip link set tp up
  in_ns hp-pub ip link set pt up
  in_ns hp-t1 ip addr add 192.0.2.1/32 dev tp
  in_ns hp-t1 sysctl -qw net.ipv4.conf.tp.proxy_arp=1
  in_ns hp-pub sysctl -qw net.ipv4.conf.pt.proxy_arp=1
  in_ns hp-t1 ip route add 203.0.113.1/32 dev tp
  in_ns hp-t1 ip route add 203.0.113.2/32 dev tp
  in_ns hp-pub ip route add 203.0.113.11/32 dev pt
  in_ns hp-pub ip route add 203.0.113.12/32 dev pt
  in_ns hp-pub ip route add 11.0.0.11/32 dev pt
  in_ns hp-pub ip route add 11.0.0.12/32 dev pt
  # IPv6: a /64 on each link, routes to each LAN (used when a router is of type ipv6)
  in_ns hp-t1 sysctl -qw net.ipv6.conf.all.forwarding=1
  in_ns hp-t2 sysctl -qw net.ipv6.conf.all.forwarding=1
  in_ns hp-t1 ip -6 addr add 2001:db8:ff12::1/64 dev t12 nodad
  in_ns hp-t2 ip -6 addr add 2001:db8:ff12::2/64 dev t21 nodad
  in_ns hp-t1 ip -6 addr add 2001:db8:ff00::1/64 dev tp nodad
  in_ns hp-pub ip -6 addr add 2001:db8:ff00::2/64 dev pt nodad
  in_ns hp-pub ip -6 route add default via 2001:db8:ff00::1
  in_ns hp-t1 ip -6 route add 2001:db8::/64 via 2001:db8:ff00::2
  in_ns hp-t1 ip -6 route add 2001:db8:2::/64 via 2001:db8:ff12::2
  in_ns hp-t1 ip -6 route add 2001:db8:ff2::/64 via 2001:db8:ff12::2
  in_ns hp-t2 ip -6 route add default via 2001:db8:ff12::1
}

up() {
  down
  ip netns add hp-pub
  in_ns hp-pub ip link set lo up
  in_ns hp-pub ip link add br0 type bridge
  in_ns hp-pub ip addr add 203.0.113.1/24 dev br0
  in_ns hp-pub ip addr add 203.0.113.2/24 dev br0
  in_ns hp-pub ip link set br0 up
  in_ns hp-pub ip -6 addr add 2001:db8::1/64 dev br0 nodad
  in_ns hp-pub sysctl -qw net.ipv6.conf.all.forwarding=1
  [ "${3:-}" = routed ] || in_ns hp-pub ip route add 11.0.0.0/24 dev br0
  if [ "${3:-}" = routed ]; then transit; export ROUTED=1; fi
  router 1 "$1"
  router 2 "$2"
  host hp-h1 1 10.1.0.2
  host hp-h2 2 10.2.0.2
  if [ "${3:-}" = same ]; then host hp-h3 1 10.1.0.3; fi
  return 0
}

case "${1:-}" in
  up) shift; trap 'down' ERR; up "$@" ;;
  down) down ;;
  *) echo "usage: natlab.sh up NAT1 NAT2 [same|routed] | down" >&2; exit 2 ;;
esac

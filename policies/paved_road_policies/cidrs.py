"""Does a set of CIDR blocks cover the internet? One answer for the policy pack and the config.

Looking for the literal `0.0.0.0/0` misses every equivalent: `0.0.0.0/1` plus `128.0.0.0/1`,
`::/0`, `0.0.0.0/00` (which `ipaddress` reads as /0), a mapped-IPv4 IPv6 block, or thousands of
small ranges that add up. So coverage is computed: the blocks are merged (`collapse_addresses`),
the address space no one can route on the internet is taken out (private, shared, loopback,
link-local, documentation, benchmarking, multicast, reserved), and what remains is counted.

The definition, and why: a set *covers the internet* when the public addresses it contains are at
least as many as a /8 holds for IPv4 (2^24, 1/256 of the whole space) or a /16 for IPv6 (2^112).
Any one organisation's range, a partner's API, a SaaS vendor's published ranges, even a cloud
region's, is far smaller; a union that large is "anywhere", give or take the holes someone left
to slip under an exact-match check (`0.0.0.0/0` minus one /24 is still the internet). A threshold
rather than "all of public space" is what makes the check hold against that.

Standard library only: the pack runs in its own environment (policies/requirements.txt), and
components/config_base.py imports this module rather than keeping a copy.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable, Optional, Union

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

# Public addresses a set may hold before it counts as the internet (see the module docstring).
IPV4_THRESHOLD = 2 ** (32 - 8)
IPV6_THRESHOLD = 2 ** (128 - 16)

# IANA IPv4 Special-Purpose Address Registry (RFC 6890 and updates), multicast and the reserved
# class E block: none of it is reachable on the internet.
_IPV4_NOT_PUBLIC = tuple(
    ipaddress.collapse_addresses(
        ipaddress.IPv4Network(block)
        for block in (
            "0.0.0.0/8",
            "10.0.0.0/8",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "172.16.0.0/12",
            "192.0.0.0/24",
            "192.0.2.0/24",
            "192.88.99.0/24",
            "192.168.0.0/16",
            "198.18.0.0/15",
            "198.51.100.0/24",
            "203.0.113.0/24",
            "224.0.0.0/4",
            "240.0.0.0/4",
        )
    )
)
# IPv6 routes on the internet only inside global unicast, less its documentation block.
_IPV6_PUBLIC = ipaddress.IPv6Network("2000::/3")
_IPV6_NOT_PUBLIC = (ipaddress.IPv6Network("2001:db8::/32"),)
# IPv6 blocks that stand for IPv4 addresses: IPv4-mapped (RFC 4291) and NAT64's well-known
# prefix (RFC 6052). `::ffff:0:0/96` is all of IPv4 written in IPv6.
_IPV4_IN_IPV6 = (ipaddress.IPv6Network("::ffff:0:0/96"), ipaddress.IPv6Network("64:ff9b::/96"))


def parse_network(value: object) -> Optional[Network]:
    """A CIDR block as an address family would route it, or None if it is not one.

    Lenient on purpose (`strict=False`): a policy judges what a value could mean, so
    `1.2.3.4/0` is the whole IPv4 space, not a typo to skip.
    """
    if not isinstance(value, str) or "/" not in value:
        return None
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


def _public_count(networks: Iterable[Network], excluded: tuple[Network, ...]) -> int:
    """Addresses of the union of `networks` outside `excluded` (both merged, so disjoint:
    two CIDR blocks either nest or do not meet)."""
    total = 0
    for network in ipaddress.collapse_addresses(networks):
        if any(network.subnet_of(block) for block in excluded):  # type: ignore[arg-type]
            continue
        hidden = sum(b.num_addresses for b in excluded if b.subnet_of(network))  # type: ignore
        total += network.num_addresses - hidden
    return total


def public_addresses(cidrs: Iterable[object]) -> tuple[int, int]:
    """How many public IPv4 and IPv6 addresses the union of `cidrs` holds (unparseable values
    are ignored: they open nothing)."""
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    for value in cidrs:
        network = parse_network(value)
        if isinstance(network, ipaddress.IPv4Network):
            v4.append(network)
        elif isinstance(network, ipaddress.IPv6Network):
            v6.append(network)
            for prefix in _IPV4_IN_IPV6:
                if prefix.subnet_of(network):
                    v4.append(ipaddress.IPv4Network("0.0.0.0/0"))
                elif network.subnet_of(prefix):
                    low = int(network.network_address) & 0xFFFFFFFF
                    v4.append(ipaddress.IPv4Network((low, network.prefixlen - 96)))
    v6_global = []
    for network in ipaddress.collapse_addresses(v6):
        if network.subnet_of(_IPV6_PUBLIC):
            v6_global.append(network)
        elif _IPV6_PUBLIC.subnet_of(network):
            v6_global.append(_IPV6_PUBLIC)
    return _public_count(v4, _IPV4_NOT_PUBLIC), _public_count(v6_global, _IPV6_NOT_PUBLIC)


def covers_internet(cidrs: Iterable[object]) -> bool:
    """Whether the union of `cidrs` covers the internet (see the module docstring)."""
    v4, v6 = public_addresses(cidrs)
    return v4 >= IPV4_THRESHOLD or v6 >= IPV6_THRESHOLD


def public_blocks(cidrs: Iterable[object]) -> list[str]:
    """The entries of `cidrs` that hold any public address: what a message should name."""
    return [str(c) for c in cidrs if any(public_addresses([c]))]

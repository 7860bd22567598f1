//! Protected networks (BSI SYS.1.6.A5, APP.4.4.A7): IP ranges, on every port or on some,
//! that no pod of a governed namespace may reach: the cloud metadata addresses by default,
//! and whatever the operator's `--protected-networks` and a profile's
//! `networkPolicy.protectedNetworks` add (the node network, the control plane).
//!
//! NetworkPolicies only allow. So a protected network is kept out of every generated egress
//! allow-list: an allowed `ipBlock` containing it gets it in `except` (the API server wants
//! every `except` strictly inside its `cidr`), an allowed `ipBlock` inside it is dropped,
//! and where only some ports are protected, the rest of that range is allowed again by a
//! rule of its own on the other ports ([`protect_egress`]). The rules that come out allow
//! exactly what the rule that went in allowed, less the protected traffic (a property test
//! checks this against a model of NetworkPolicy egress semantics). Pure.

use std::net::IpAddr;

use k8s_openapi::api::networking::v1 as networking;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::core::api::{Port, ProtectedNetwork, Protocol};

/// The cloud metadata addresses (AWS, Azure, GCP, OpenStack and others serve it at
/// 169.254.169.254; AWS's IPv6 one is fd00:ec2::254): the operator's default protected
/// networks, on every port.
pub const CLOUD_METADATA: [&str; 2] = ["169.254.169.254/32", "fd00:ec2::254/128"];

/// The operator's default protected networks: [`CLOUD_METADATA`], every port.
pub fn default_networks() -> Vec<ProtectedNetwork> {
    CLOUD_METADATA
        .iter()
        .map(|cidr| ProtectedNetwork {
            cidr: (*cidr).to_owned(),
            ports: Vec::new(),
        })
        .collect()
}

/// The protected networks of a profile: the operator's and the profile's own, without
/// repeats, in that order.
pub fn effective(
    operator: &[ProtectedNetwork],
    profile: &[ProtectedNetwork],
) -> Vec<ProtectedNetwork> {
    let mut all: Vec<ProtectedNetwork> = Vec::new();
    for network in operator.iter().chain(profile) {
        if !all.contains(network) {
            all.push(network.clone());
        }
    }
    all
}

/// Parses the operator's text form of a protected network: `CIDR` (every port) or
/// `CIDR:PORTS`, PORTS a comma-separated list of `PORT`, `PORT-END`, each optionally
/// followed by `/TCP`, `/UDP` or `/SCTP` (default TCP), e.g. `10.0.0.0/16:22,10250` or
/// `fd00:ec2::254/128:80`.
pub fn parse(text: &str) -> Result<ProtectedNetwork, String> {
    let text = text.trim();
    let (address, rest) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not a CIDR such as 10.0.0.0/16 (with /prefix)"))?;
    let (prefix, ports) = match rest.split_once(':') {
        Some((prefix, ports)) => (prefix, Some(ports)),
        None => (rest, None),
    };
    let cidr = format!("{address}/{prefix}");
    let parsed = Cidr::parse(&cidr).ok_or_else(|| {
        format!("{cidr:?} is not a CIDR such as 10.0.0.0/16 or fd00:ec2::254/128")
    })?;
    if parsed.to_string() != cidr {
        return Err(format!(
            "{cidr:?} has bits set beyond its prefix length (or is not written as Kubernetes writes it): give the network address, {parsed}"
        ));
    }
    let mut list = Vec::new();
    for item in ports.into_iter().flat_map(|p| p.split(',')) {
        let item = item.trim();
        let (range, protocol) = match item.split_once('/') {
            Some((range, protocol)) => (range, protocol),
            None => (item, "TCP"),
        };
        let protocol = match protocol.to_ascii_uppercase().as_str() {
            "TCP" => Protocol::Tcp,
            "UDP" => Protocol::Udp,
            "SCTP" => Protocol::Sctp,
            other => {
                return Err(format!(
                    "unknown protocol {other:?} in {item:?}: use TCP, UDP or SCTP"
                ));
            }
        };
        let number = |s: &str| -> Result<i32, String> {
            s.trim()
                .parse::<i32>()
                .ok()
                .filter(|n| (1..=65535).contains(n))
                .ok_or_else(|| format!("{s:?} in {item:?} is not a port number (1-65535)"))
        };
        let (port, end_port) = match range.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (number(first)?, number(last)?);
                if last < first {
                    return Err(format!("{item:?}: the range ends before it starts"));
                }
                (first, (last != first).then_some(last))
            }
            None => (number(range)?, None),
        };
        list.push(Port {
            port,
            end_port,
            protocol,
        });
    }
    Ok(ProtectedNetwork {
        cidr: parsed.to_string(),
        ports: list,
    })
}

/// The text form [`parse`] reads.
pub fn display(network: &ProtectedNetwork) -> String {
    if network.ports.is_empty() {
        return network.cidr.clone();
    }
    let ports: Vec<String> = network
        .ports
        .iter()
        .map(|p| {
            let range = match p.end_port {
                Some(end) if end != p.port => format!("{}-{end}", p.port),
                _ => p.port.to_string(),
            };
            format!("{range}/{}", p.protocol.as_str())
        })
        .collect();
    format!("{}:{}", network.cidr, ports.join(","))
}

/// What a protected network is, in a message: `169.254.169.254/32 (every port)` or
/// `10.0.0.0/16 (TCP 22, TCP 10250)`.
pub fn describe(network: &ProtectedNetwork) -> String {
    if network.ports.is_empty() {
        return format!("{} (every port)", network.cidr);
    }
    let ports: Vec<String> = network
        .ports
        .iter()
        .map(|p| match p.end_port {
            Some(end) if end != p.port => format!("{} {}-{end}", p.protocol.as_str(), p.port),
            _ => format!("{} {}", p.protocol.as_str(), p.port),
        })
        .collect();
    format!("{} ({})", network.cidr, ports.join(", "))
}

/// `rule` (an egress rule as rendered) without the traffic to `protected`: the rules that
/// allow exactly what `rule` allows but that. `rule` itself when no protected network is
/// reachable through it.
pub fn protect_egress(
    rule: &networking::NetworkPolicyEgressRule,
    protected: &[ProtectedNetwork],
) -> Vec<networking::NetworkPolicyEgressRule> {
    let (main, extra) = protect_egress_parts(rule, protected);
    main.into_iter().chain(extra).collect()
}

/// [`protect_egress`] in two parts: `rule` with the protected ranges excepted or dropped
/// (`None` when nothing of it is left), and the rules allowing the other ports of
/// port-scoped protected ranges again.
pub fn protect_egress_parts(
    rule: &networking::NetworkPolicyEgressRule,
    protected: &[ProtectedNetwork],
) -> (
    Option<networking::NetworkPolicyEgressRule>,
    Vec<networking::NetworkPolicyEgressRule>,
) {
    // Ports out of range are the API server's to reject, as the profile wrote them.
    let invalid = rule
        .ports
        .iter()
        .flatten()
        .any(|p| match (&p.port, p.end_port) {
            (Some(IntOrString::Int(first)), end) => {
                !(1..=65535).contains(first) || end.is_some_and(|e| e < *first || e > 65535)
            }
            _ => false,
        });
    if invalid {
        return (Some(rule.clone()), Vec::new());
    }
    let ports = PortSet::of_policy(rule.ports.as_deref());
    let relevant: Vec<&ProtectedNetwork> = protected
        .iter()
        .filter(|n| Cidr::parse(&n.cidr).is_some())
        .filter(|n| ports.intersects(&PortSet::of_profile(&n.ports)))
        .collect();
    if relevant.is_empty() {
        return (Some(rule.clone()), Vec::new());
    }
    let peers: Vec<networking::NetworkPolicyPeer> = match rule.to.as_deref() {
        Some(peers) if !peers.is_empty() => peers.to_vec(),
        // Anywhere: every address of either family, and every pod (whose addresses an
        // implementation need not match by ipBlock).
        _ => vec![
            ip_block("0.0.0.0/0", Vec::new()),
            ip_block("::/0", Vec::new()),
            networking::NetworkPolicyPeer {
                namespace_selector: Some(LabelSelector::default()),
                ..Default::default()
            },
        ],
    };
    let mut kept = Vec::new();
    let mut extra = Vec::new();
    for peer in peers {
        let Some(block) = &peer.ip_block else {
            kept.push(peer);
            continue;
        };
        let Some(allowed) = Cidr::parse(&block.cidr) else {
            kept.push(peer);
            continue;
        };
        let given: Vec<Cidr> = block
            .except
            .iter()
            .flatten()
            .filter_map(|e| Cidr::parse(e))
            .collect();
        let mut except: Vec<String> = block.except.clone().unwrap_or_default();
        let mut keep = true;
        for (i, network) in protected.iter().enumerate() {
            let Some(denied) = Cidr::parse(&network.cidr) else {
                continue;
            };
            if !denied.overlaps(&allowed) {
                continue;
            }
            let protected_ports = PortSet::of_profile(&network.ports);
            if !ports.intersects(&protected_ports) {
                continue;
            }
            // The part of the allowed range that is protected.
            let inner = if allowed.contains(&denied) {
                denied
            } else {
                allowed
            };
            if given.iter().any(|e| e.contains(&inner)) {
                continue;
            }
            if inner == allowed {
                keep = false;
            } else if !except
                .iter()
                .filter_map(|e| Cidr::parse(e))
                .any(|e| e.contains(&inner))
            {
                except.push(inner.to_string());
            }
            // The protected range on the ports that are not protected stays allowed.
            let rest = ports.minus(&protected_ports);
            if !rest.is_empty() {
                let inner_except: Vec<String> = given
                    .iter()
                    .filter(|e| inner.contains(e) && **e != inner)
                    .map(Cidr::to_string)
                    .collect();
                let residual = networking::NetworkPolicyEgressRule {
                    to: Some(vec![ip_block(&inner.to_string(), inner_except)]),
                    ports: Some(rest.to_policy_ports()),
                };
                let others: Vec<ProtectedNetwork> = protected
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, n)| n.clone())
                    .collect();
                extra.extend(protect_egress(&residual, &others));
            }
        }
        if keep {
            kept.push(networking::NetworkPolicyPeer {
                ip_block: Some(networking::IPBlock {
                    cidr: block.cidr.clone(),
                    except: (!except.is_empty()).then_some(except),
                }),
                ..peer
            });
        }
    }
    // Never a rule without peers: that would allow every destination.
    let main = (!kept.is_empty()).then(|| networking::NetworkPolicyEgressRule {
        to: Some(kept),
        ports: rule.ports.clone(),
    });
    (main, extra)
}

fn ip_block(cidr: &str, except: Vec<String>) -> networking::NetworkPolicyPeer {
    networking::NetworkPolicyPeer {
        ip_block: Some(networking::IPBlock {
            cidr: cidr.to_owned(),
            except: (!except.is_empty()).then_some(except),
        }),
        ..Default::default()
    }
}

/// The first protected network a NetworkPolicy egress rule (peers and ports as written,
/// empty: every peer / every port) reaches, if any: through an `ipBlock` overlapping it
/// that does not except it, or no peers at all. Conservative: a named port, or a port
/// without a number, may be any port of its protocol.
pub fn reached<'a>(
    peers: &[networking::NetworkPolicyPeer],
    ports: &[networking::NetworkPolicyPort],
    protected: &'a [ProtectedNetwork],
) -> Option<&'a ProtectedNetwork> {
    let rule_ports = PortSet::of_policy((!ports.is_empty()).then_some(ports));
    protected.iter().find(|network| {
        let Some(denied) = Cidr::parse(&network.cidr) else {
            return false;
        };
        if !rule_ports.intersects(&PortSet::of_profile(&network.ports)) {
            return false;
        }
        if peers.is_empty() {
            return true;
        }
        peers.iter().any(|peer| {
            let Some(block) = &peer.ip_block else {
                return false;
            };
            let Some(allowed) = Cidr::parse(&block.cidr) else {
                // Not understood: it may reach anything.
                return true;
            };
            allowed.overlaps(&denied)
                && !block
                    .except
                    .iter()
                    .flatten()
                    .filter_map(|e| Cidr::parse(e))
                    .any(|e| e.contains(&denied) || e.contains(&allowed))
        })
    })
}

/// Ports by protocol, as inclusive ranges; every protocol listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PortSet {
    /// TCP, UDP, SCTP, in that order.
    ranges: [Vec<(i32, i32)>; 3],
}

const PROTOCOLS: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];
const ALL_PORTS: (i32, i32) = (1, 65535);

fn protocol_index(protocol: Protocol) -> usize {
    match protocol {
        Protocol::Tcp => 0,
        Protocol::Udp => 1,
        Protocol::Sctp => 2,
    }
}

impl PortSet {
    fn all() -> Self {
        Self {
            ranges: [vec![ALL_PORTS], vec![ALL_PORTS], vec![ALL_PORTS]],
        }
    }

    fn empty() -> Self {
        Self {
            ranges: [Vec::new(), Vec::new(), Vec::new()],
        }
    }

    /// A profile's ports (empty: every port of every protocol).
    pub(crate) fn of_profile(ports: &[Port]) -> Self {
        if ports.is_empty() {
            return Self::all();
        }
        let mut set = Self::empty();
        for p in ports {
            set.add(
                protocol_index(p.protocol),
                (p.port, p.end_port.unwrap_or(p.port)),
            );
        }
        set
    }

    /// A NetworkPolicy's ports (`None` or empty: every port). A port without a number, or a
    /// named one, counts as every port of its protocol; an unknown protocol as nothing.
    pub(crate) fn of_policy(ports: Option<&[networking::NetworkPolicyPort]>) -> Self {
        let Some(ports) = ports.filter(|p| !p.is_empty()) else {
            return Self::all();
        };
        let mut set = Self::empty();
        for p in ports {
            let index = match p.protocol.as_deref().unwrap_or("TCP") {
                "TCP" => 0,
                "UDP" => 1,
                "SCTP" => 2,
                _ => continue,
            };
            let range = match &p.port {
                Some(IntOrString::Int(first)) => (*first, p.end_port.unwrap_or(*first)),
                _ => ALL_PORTS,
            };
            set.add(index, range);
        }
        set
    }

    fn add(&mut self, index: usize, range: (i32, i32)) {
        let list = &mut self.ranges[index];
        list.push(range);
        list.sort();
        let mut merged: Vec<(i32, i32)> = Vec::new();
        for (first, last) in list.drain(..) {
            match merged.last_mut() {
                Some(prev) if first <= prev.1 + 1 => prev.1 = prev.1.max(last),
                _ => merged.push((first, last)),
            }
        }
        *list = merged;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.iter().all(Vec::is_empty)
    }

    pub(crate) fn intersects(&self, other: &Self) -> bool {
        self.ranges
            .iter()
            .zip(&other.ranges)
            .any(|(a, b)| a.iter().any(|x| b.iter().any(|y| x.0 <= y.1 && y.0 <= x.1)))
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, protocol: Protocol, port: i32) -> bool {
        self.ranges[protocol_index(protocol)]
            .iter()
            .any(|(first, last)| *first <= port && port <= *last)
    }

    /// The ports of `self` that are not in `other`.
    fn minus(&self, other: &Self) -> Self {
        let mut out = Self::empty();
        for i in 0..3 {
            for &(first, last) in &self.ranges[i] {
                let mut pieces = vec![(first, last)];
                for &(a, b) in &other.ranges[i] {
                    pieces = pieces
                        .into_iter()
                        .flat_map(|(x, y)| {
                            let mut left = Vec::new();
                            if x < a {
                                left.push((x, y.min(a - 1)));
                            }
                            if y > b {
                                left.push((x.max(b + 1), y));
                            }
                            if a > y || b < x { vec![(x, y)] } else { left }
                        })
                        .collect();
                }
                for piece in pieces {
                    out.add(i, piece);
                }
            }
        }
        out
    }

    fn to_policy_ports(&self) -> Vec<networking::NetworkPolicyPort> {
        let mut ports = Vec::new();
        for (i, protocol) in PROTOCOLS.iter().enumerate() {
            for &(first, last) in &self.ranges[i] {
                ports.push(networking::NetworkPolicyPort {
                    port: ((first, last) != ALL_PORTS).then_some(IntOrString::Int(first)),
                    end_port: ((first, last) != ALL_PORTS && last != first).then_some(last),
                    protocol: Some(protocol.as_str().to_owned()),
                });
            }
        }
        ports
    }
}

/// An IP block, masked to its prefix; compares and prints as Kubernetes writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cidr {
    network: u128,
    prefix: u8,
    v6: bool,
}

impl Cidr {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = text.split_once('/')?;
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let prefix: u8 = prefix.parse().ok()?;
        let (value, bits, v6) = match address.parse::<IpAddr>().ok()? {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32u8, false),
            IpAddr::V6(v6) => (u128::from(v6), 128u8, true),
        };
        if prefix > bits {
            return None;
        }
        let host_bits = u32::from(bits - prefix);
        let mask = if host_bits >= 128 {
            0
        } else {
            !((1u128 << host_bits) - 1)
        };
        Some(Self {
            network: value & mask,
            prefix,
            v6,
        })
    }

    fn bits(&self) -> u8 {
        if self.v6 { 128 } else { 32 }
    }

    fn masked(&self, prefix: u8) -> u128 {
        let host_bits = u32::from(self.bits() - prefix);
        if host_bits >= 128 {
            0
        } else {
            self.network & !((1u128 << host_bits) - 1)
        }
    }

    /// `other` lies within this block.
    pub(crate) fn contains(&self, other: &Cidr) -> bool {
        self.v6 == other.v6
            && other.prefix >= self.prefix
            && other.masked(self.prefix) == self.network
    }

    pub(crate) fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other) || other.contains(self)
    }

    /// Whether the address `ip` (as a /32 or /128) lies in this block.
    #[cfg(test)]
    pub(crate) fn contains_ip(&self, ip: IpAddr) -> bool {
        let host = match ip {
            IpAddr::V4(v4) => Cidr {
                network: u128::from(u32::from(v4)),
                prefix: 32,
                v6: false,
            },
            IpAddr::V6(v6) => Cidr {
                network: u128::from(v6),
                prefix: 128,
                v6: true,
            },
        };
        self.contains(&host)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.v6 {
            write!(
                f,
                "{}/{}",
                std::net::Ipv6Addr::from(self.network),
                self.prefix
            )
        } else {
            write!(
                f,
                "{}/{}",
                std::net::Ipv4Addr::from(self.network as u32),
                self.prefix
            )
        }
    }
}

#[cfg(test)]
mod tests;

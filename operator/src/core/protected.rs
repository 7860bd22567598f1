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
mod tests {
    use std::net::IpAddr;

    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    fn rule(value: Value) -> networking::NetworkPolicyEgressRule {
        serde_json::from_value(value).unwrap()
    }

    fn net(text: &str) -> ProtectedNetwork {
        parse(text).unwrap()
    }

    fn rendered(rules: &[networking::NetworkPolicyEgressRule]) -> Value {
        serde_json::to_value(rules).unwrap()
    }

    #[test]
    fn the_text_form_reads_ranges_ports_and_protocols() {
        assert_eq!(
            net("10.0.0.0/16:22,10250,30000-32767/udp"),
            ProtectedNetwork {
                cidr: "10.0.0.0/16".into(),
                ports: vec![
                    Port {
                        port: 22,
                        end_port: None,
                        protocol: Protocol::Tcp
                    },
                    Port {
                        port: 10250,
                        end_port: None,
                        protocol: Protocol::Tcp
                    },
                    Port {
                        port: 30000,
                        end_port: Some(32767),
                        protocol: Protocol::Udp
                    },
                ],
            }
        );
        assert_eq!(net("fd00:ec2::254/128:80").cidr, "fd00:ec2::254/128");
        assert_eq!(net("fd00:ec2::254/128:80").ports.len(), 1);
        assert_eq!(
            display(&net("10.0.0.0/16:22,80-90/UDP")),
            "10.0.0.0/16:22/TCP,80-90/UDP"
        );
        assert_eq!(describe(&net("10.0.0.0/16:22")), "10.0.0.0/16 (TCP 22)");
        assert_eq!(
            describe(&net("169.254.169.254/32")),
            "169.254.169.254/32 (every port)"
        );
        for bad in [
            "10.0.0.1/16",
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0.0/16:0",
            "10.0.0.0/16:70000",
            "10.0.0.0/16:22/ICMP",
            "10.0.0.0/16:90-80",
            "010.0.0.0/8",
        ] {
            assert!(parse(bad).is_err(), "{bad} parsed");
        }
        assert!(
            parse("10.0.0.1/16").unwrap_err().contains("10.0.0.0/16"),
            "names the network address"
        );
    }

    #[test]
    fn an_allowed_range_holding_a_protected_one_excepts_it() {
        let out = protect_egress(
            &rule(
                json!({"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}], "ports": [{"port": 443, "protocol": "TCP"}]}),
            ),
            &[net("169.254.169.254/32"), net("fd00:ec2::254/128")],
        );
        assert_eq!(
            rendered(&out),
            json!([{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "169.254.169.254/32"]}}], "ports": [{"port": 443, "protocol": "TCP"}]}])
        );
    }

    #[test]
    fn a_range_already_excepted_or_on_other_ports_is_left_as_it_is() {
        let given = rule(
            json!({"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}], "ports": [{"port": 443, "protocol": "TCP"}]}),
        );
        assert_eq!(
            protect_egress(&given, &[net("10.1.2.0/24"), net("10.2.0.0/16:22")]),
            vec![given]
        );
    }

    #[test]
    fn an_allowed_range_inside_a_protected_one_goes_and_the_other_ports_stay() {
        let out = protect_egress(
            &rule(json!({"to": [{"ipBlock": {"cidr": "10.0.0.5/32"}}, {"podSelector": {}}]})),
            &[net("10.0.0.0/16:22,10250")],
        );
        assert_eq!(
            rendered(&out),
            json!([
                {"to": [{"podSelector": {}}]},
                {"to": [{"ipBlock": {"cidr": "10.0.0.5/32"}}], "ports": [
                    {"port": 1, "endPort": 21, "protocol": "TCP"},
                    {"port": 23, "endPort": 10249, "protocol": "TCP"},
                    {"port": 10251, "endPort": 65535, "protocol": "TCP"},
                    {"protocol": "UDP"},
                    {"protocol": "SCTP"}
                ]}
            ])
        );
    }

    #[test]
    fn anywhere_becomes_every_address_and_every_pod_without_the_protected_ones() {
        let out = protect_egress(&rule(json!({})), &[net("169.254.169.254/32")]);
        assert_eq!(
            rendered(&out),
            json!([{"to": [
                {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}},
                {"ipBlock": {"cidr": "::/0"}},
                {"namespaceSelector": {}}
            ]}])
        );
    }

    #[test]
    fn a_rule_whose_only_range_is_protected_disappears() {
        assert_eq!(
            protect_egress(
                &rule(json!({"to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}]})),
                &[net("169.254.0.0/16")]
            ),
            vec![]
        );
    }

    #[test]
    fn reaching_a_protected_network_is_found_through_ip_blocks_and_open_rules() {
        let protected = [net("169.254.169.254/32"), net("10.0.0.0/16:22")];
        let peers =
            |v: Value| -> Vec<networking::NetworkPolicyPeer> { serde_json::from_value(v).unwrap() };
        let ports =
            |v: Value| -> Vec<networking::NetworkPolicyPort> { serde_json::from_value(v).unwrap() };
        let reach =
            |p: Value, q: Value| reached(&peers(p), &ports(q), &protected).map(|n| n.cidr.clone());
        assert_eq!(
            reach(json!([]), json!([])).as_deref(),
            Some("169.254.169.254/32")
        );
        assert_eq!(
            reach(
                json!([{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]}}]),
                json!([{"port": 443}])
            ),
            None,
            "excepted, and 443 is not protected on 10.0.0.0/16"
        );
        assert_eq!(
            reach(
                json!([{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]}}]),
                json!([{"port": 20, "endPort": 30}])
            )
            .as_deref(),
            Some("10.0.0.0/16")
        );
        assert_eq!(
            reach(
                json!([{"ipBlock": {"cidr": "10.0.3.0/24"}}]),
                json!([{"port": "ssh"}])
            )
            .as_deref(),
            Some("10.0.0.0/16"),
            "a named port may be any"
        );
        assert_eq!(reach(json!([{"podSelector": {}}]), json!([])), None);
        assert_eq!(
            reach(json!([{"ipBlock": {"cidr": "::/0"}}]), json!([])),
            None
        );
    }

    // Property: what the rules coming out allow is exactly what the rule going in allows,
    // less the protected traffic, judged by a model of NetworkPolicy egress semantics on
    // addresses chosen around every range's edges; and every rule is one the API server
    // accepts (every except strictly inside its cidr, no rule without peers).

    const RANGES: [&str; 12] = [
        "0.0.0.0/0",
        "10.0.0.0/8",
        "10.1.0.0/16",
        "10.1.2.0/24",
        "10.1.2.3/32",
        "10.2.0.0/16",
        "169.254.0.0/16",
        "169.254.169.254/32",
        "192.168.0.0/16",
        "::/0",
        "fd00::/8",
        "fd00:ec2::254/128",
    ];

    const PROBES: [&str; 12] = [
        "10.1.2.3",
        "10.1.2.4",
        "10.1.9.9",
        "10.2.0.1",
        "10.9.9.9",
        "169.254.169.254",
        "169.254.1.1",
        "192.168.1.1",
        "8.8.8.8",
        "fd00:ec2::254",
        "fd00::1",
        "2001:db8::1",
    ];

    const PROBE_PORTS: [i32; 8] = [1, 21, 22, 23, 80, 443, 10250, 65535];

    fn port_strategy() -> impl Strategy<Value = Port> {
        (
            prop::sample::select(vec![1, 22, 80, 443, 1000, 10250]),
            prop::option::of(prop::sample::select(vec![22, 80, 443, 20000, 65535])),
            prop::sample::select(vec![Protocol::Tcp, Protocol::Udp, Protocol::Sctp]),
        )
            .prop_map(|(port, end, protocol)| Port {
                port,
                end_port: end.filter(|e| *e > port),
                protocol,
            })
    }

    fn protected_strategy() -> impl Strategy<Value = Vec<ProtectedNetwork>> {
        prop::collection::vec(
            (
                prop::sample::select(RANGES.to_vec()),
                prop::collection::vec(port_strategy(), 0..3),
            )
                .prop_map(|(cidr, ports)| ProtectedNetwork {
                    cidr: cidr.to_owned(),
                    ports,
                }),
            0..4,
        )
    }

    fn rule_strategy() -> impl Strategy<Value = networking::NetworkPolicyEgressRule> {
        let peer = (
            prop::sample::select(RANGES.to_vec()),
            prop::collection::vec(prop::sample::select(RANGES.to_vec()), 0..3),
        )
            .prop_map(|(cidr, except)| {
                let outer = Cidr::parse(cidr).unwrap();
                let except: Vec<String> = except
                    .into_iter()
                    .filter(|e| {
                        let e = Cidr::parse(e).unwrap();
                        outer.contains(&e) && e != outer
                    })
                    .map(str::to_owned)
                    .collect();
                ip_block(cidr, except)
            });
        (
            prop::collection::vec(peer, 0..3),
            prop::collection::vec(port_strategy(), 0..3),
        )
            .prop_map(|(peers, ports)| networking::NetworkPolicyEgressRule {
                to: (!peers.is_empty()).then_some(peers),
                ports: (!ports.is_empty()).then(|| {
                    ports
                        .iter()
                        .map(|p| networking::NetworkPolicyPort {
                            port: Some(IntOrString::Int(p.port)),
                            end_port: p.end_port,
                            protocol: Some(p.protocol.as_str().to_owned()),
                        })
                        .collect()
                }),
            })
    }

    /// NetworkPolicy egress semantics for a connection to an address (not a pod).
    fn allows(
        rule: &networking::NetworkPolicyEgressRule,
        ip: IpAddr,
        protocol: Protocol,
        port: i32,
    ) -> bool {
        let ports = PortSet::of_policy(rule.ports.as_deref());
        if !ports.contains(protocol, port) {
            return false;
        }
        let peers = rule.to.as_deref().unwrap_or_default();
        peers.is_empty()
            || peers.iter().any(|peer| {
                peer.ip_block.as_ref().is_some_and(|block| {
                    Cidr::parse(&block.cidr).unwrap().contains_ip(ip)
                        && !block
                            .except
                            .iter()
                            .flatten()
                            .any(|e| Cidr::parse(e).unwrap().contains_ip(ip))
                })
            })
    }

    fn is_protected(
        protected: &[ProtectedNetwork],
        ip: IpAddr,
        protocol: Protocol,
        port: i32,
    ) -> bool {
        protected.iter().any(|n| {
            Cidr::parse(&n.cidr).unwrap().contains_ip(ip)
                && PortSet::of_profile(&n.ports).contains(protocol, port)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn protecting_takes_away_exactly_the_protected_traffic(
            rule in rule_strategy(),
            protected in protected_strategy(),
        ) {
            let out = protect_egress(&rule, &protected);
            for r in &out {
                let peers = r.to.as_deref().unwrap_or_default();
                prop_assert!(!peers.is_empty() || rule.to.as_deref().unwrap_or_default().is_empty() && out.len() == 1 && *r == rule,
                    "a rule without peers allows everything: {r:?}");
                for peer in peers {
                    if let Some(block) = &peer.ip_block {
                        let outer = Cidr::parse(&block.cidr).unwrap();
                        for e in block.except.iter().flatten() {
                            let inner = Cidr::parse(e).unwrap();
                            prop_assert!(outer.contains(&inner) && inner != outer, "{e} not strictly inside {}", block.cidr);
                        }
                    }
                }
                for p in r.ports.iter().flatten() {
                    if let (Some(IntOrString::Int(first)), Some(last)) = (&p.port, p.end_port) {
                        prop_assert!(last > *first);
                    }
                }
            }
            for probe in PROBES {
                let ip: IpAddr = probe.parse().unwrap();
                for protocol in PROTOCOLS {
                    for port in PROBE_PORTS {
                        let want = allows(&rule, ip, protocol, port) && !is_protected(&protected, ip, protocol, port);
                        let have = out.iter().any(|r| allows(r, ip, protocol, port));
                        prop_assert_eq!(have, want, "{} {:?} {} through {:?}", probe, protocol, port, out);
                    }
                }
            }
        }
    }
}

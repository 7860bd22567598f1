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

fn is_protected(protected: &[ProtectedNetwork], ip: IpAddr, protocol: Protocol, port: i32) -> bool {
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

//! The catalogues in force, as data: every requirement of BSI IT-Grundschutz SYS.1.6
//! "Containerisierung" and APP.4.4 "Kubernetes" in the edition of the final
//! IT-Grundschutz-Kompendium (2023; the 2022 rewrite of SYS.1.6 unchanged), with its ID,
//! title, level, the ID of roughly the same topic in the superseded SYS.1.6 "Container"
//! numbering (A1-A27, Kompendium up to 2021) as a cross-reference only, the Grundschutz++
//! controls the BSI's own mapping gives, and whether the operator assesses it at all.
//!
//! Where each title came from:
//! - SYS.1.6: the English titles of the BSI's translation of the 2022 Kompendium as
//!   ComplianceAsCode quotes them (`controls/bsi_sys_1_6.yml`), except A21 and A23, whose
//!   titles there are wrong ("Compile options ..."): those are translated from the BSI's
//!   German titles, "Erweiterte Sicherheitsrichtlinien" and "Unveränderlichkeit der
//!   Container". The German titles (`title_de`) are the BSI's, as its repository
//!   BSI-Bund/Stand-der-Technik-Bibliothek lists the 2023 edition
//!   (`Bausteine-Zielobjekte/hilfsdateien/bsi_2023_stripped.md`, commit e4c63fa). A20's
//!   text in ComplianceAsCode repeats A19's; the BSI's A20 ("Absicherung von
//!   Konfigurationsdaten") asks that the description of the containers' configuration be
//!   versioned and its changes documented, which is what the conditions here are written
//!   from. ComplianceAsCode gives A3 the level "intermediary"; the Kompendium's is B.
//! - APP.4.4: the English titles of the same translation as ComplianceAsCode quotes them
//!   (`controls/bsi_app_4_4.yml`); German titles from the same BSI file.
//! - Grundschutz++ controls: the BSI's mapping collection
//!   `control_layer/Mappings/IT-GS2023-zu-GSpp/ITGS-to-GS++-mapping_collection.json`
//!   (BSI-Bund/Stand-der-Technik-Bibliothek, commit 47de282; status "draft", CC BY-SA 4.0),
//!   whose targets are controls of the "BSI Stand der Technik Kernel" catalogue. It maps
//!   one sub-requirement ("UA") of 10 of the 47 requirements here, nothing more.

use serde::Serialize;

/// One catalogue (an IT-Grundschutz module) in one edition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Catalogue {
    /// The module's ID, e.g. `SYS.1.6`.
    pub module: &'static str,
    /// The module's German title, as the BSI publishes it.
    pub title_de: &'static str,
    /// Its English title.
    pub title: &'static str,
    /// The edition: the year of the IT-Grundschutz-Kompendium.
    pub edition: &'static str,
}

impl Catalogue {
    /// `BSI IT-Grundschutz SYS.1.6 Containerisierung`.
    pub fn name(&self) -> String {
        format!("BSI IT-Grundschutz {} {}", self.module, self.title_de)
    }

    /// `BSI SYS.1.6 (2023)`: catalogue and edition, short.
    pub fn short(&self) -> String {
        format!("BSI {} ({})", self.module, self.edition)
    }
}

pub static SYS_1_6: Catalogue = Catalogue {
    module: "SYS.1.6",
    title_de: "Containerisierung",
    title: "Containerisation",
    edition: "2023",
};

pub static APP_4_4: Catalogue = Catalogue {
    module: "APP.4.4",
    title_de: "Kubernetes",
    title: "Kubernetes",
    edition: "2023",
};

/// The catalogues, primary first.
pub static CATALOGUES: [&Catalogue; 2] = [&SYS_1_6, &APP_4_4];

/// The level of a requirement (Kompendium: B, S, H).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Level {
    /// B, Basis-Anforderung: MUST.
    Basic,
    /// S, Standard-Anforderung: SHOULD.
    Standard,
    /// H, Anforderung bei erhöhtem Schutzbedarf: for elevated protection needs.
    Elevated,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Basic, Level::Standard, Level::Elevated];

    /// `B`, `S` or `H`, as the Kompendium marks it.
    pub fn letter(self) -> &'static str {
        match self {
            Self::Basic => "B",
            Self::Standard => "S",
            Self::Elevated => "H",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Basic => "basic",
            Self::Standard => "standard",
            Self::Elevated => "elevated",
        }
    }
}

/// A Grundschutz++ control the BSI's mapping gives for (a sub-requirement of) a requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct GsppMapping {
    /// The sub-requirement mapped, e.g. `SYS.1.6.A5-UA.1`.
    pub source: &'static str,
    /// OSCAL relationship: `subset-of`, `equivalent-to`, `superset-of`, `intersects-with`.
    pub relationship: &'static str,
    /// The Grundschutz++ (Stand-der-Technik Kernel) control, e.g. `ARCH.2.2.7`.
    pub control: &'static str,
    /// Its title.
    pub title: &'static str,
}

/// Whether the operator says anything about a requirement beyond naming it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The operator generates, enforces or checks part of it: its verdict is computed.
    Assessed,
    /// Organisational (planning, documentation, processes) or outside what the operator
    /// generates or checks (hosts, backups, the cluster's RBAC, ...): listed as such with
    /// what has to be checked elsewhere, never as met.
    Organisational(&'static str),
}

/// One requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub catalogue: &'static Catalogue,
    /// The ID as the BSI writes it, e.g. `SYS.1.6.A5`.
    pub id: &'static str,
    pub title: &'static str,
    pub title_de: &'static str,
    pub level: Level,
    /// The ID of roughly the same topic in the superseded SYS.1.6 "Container" numbering
    /// (cross-reference only); empty where there is none.
    pub old: &'static str,
    pub gspp: &'static [GsppMapping],
    pub scope: Scope,
}

impl Requirement {
    /// `BSI SYS.1.6 (2023) A5`: the ID with catalogue and edition, for messages.
    pub fn cited(&self) -> String {
        format!("{} {}", self.catalogue.short(), self.short_id())
    }

    /// `A5`.
    pub fn short_id(&self) -> &'static str {
        self.id.rsplit('.').next().unwrap_or(self.id)
    }

    pub fn assessed(&self) -> bool {
        self.scope == Scope::Assessed
    }
}

const fn req(
    catalogue: &'static Catalogue,
    id: &'static str,
    level: Level,
    title: &'static str,
    title_de: &'static str,
    old: &'static str,
    scope: Scope,
) -> Requirement {
    Requirement {
        catalogue,
        id,
        title,
        title_de,
        level,
        old,
        gspp: &[],
        scope,
    }
}

const fn mapped(mut r: Requirement, gspp: &'static [GsppMapping]) -> Requirement {
    r.gspp = gspp;
    r
}

use Level::{Basic as B, Elevated as H, Standard as S};
use Scope::{Assessed, Organisational as Org};

const PLANNING: &str = "organisational: planning and documentation";

/// Every requirement of both catalogues, in the Kompendium's order.
pub static REQUIREMENTS: [Requirement; 47] = [
    req(
        &SYS_1_6,
        "SYS.1.6.A1",
        B,
        "Planning Container Use",
        "Planung des Container-Einsatzes",
        "A1",
        Org(PLANNING),
    ),
    req(
        &SYS_1_6,
        "SYS.1.6.A2",
        B,
        "Container Management Planning",
        "Planung der Verwaltung von Containern",
        "A19",
        Org("organisational: planning the management over the whole life cycle"),
    ),
    req(
        &SYS_1_6,
        "SYS.1.6.A3",
        B,
        "Secure Use of Containerised IT Systems",
        "Sicherer Einsatz containerisierter IT-Systeme",
        "A2",
        Org(
            "organisational: checking isolation needs per application; health checks of the workloads are not checked",
        ),
    ),
    req(
        &SYS_1_6,
        "SYS.1.6.A4",
        B,
        "Planning the Provision and Distribution of Images",
        "Planung der Bereitstellung und Verteilung von Images",
        "",
        Org(PLANNING),
    ),
    mapped(
        req(
            &SYS_1_6,
            "SYS.1.6.A5",
            B,
            "Separation of Administration and Access Networks for Containers",
            "Separierung der Administrations- und Zugangsnetze bei Containern",
            "A9",
            Assessed,
        ),
        &[
            GsppMapping {
                source: "SYS.1.6.A5-UA.1",
                relationship: "subset-of",
                control: "ARCH.2.2.7",
                title: "Management-Netz",
            },
            GsppMapping {
                source: "SYS.1.6.A5-UA.3",
                relationship: "equivalent-to",
                control: "ARCH.2.3",
                title: "Mikrosegmentierung",
            },
        ],
    ),
    req(
        &SYS_1_6,
        "SYS.1.6.A6",
        B,
        "Use of Secure Images",
        "Verwendung sicherer Images",
        "A7, A22",
        Assessed,
    ),
    req(
        &SYS_1_6,
        "SYS.1.6.A7",
        B,
        "Persistence of Container Logging Data",
        "Persistenz von Protokollierungsdaten der Container",
        "A5",
        Org("host level: where the nodes keep container logs is not checked"),
    ),
    req(
        &SYS_1_6,
        "SYS.1.6.A8",
        B,
        "Secure Storage of Container Access Data",
        "Sichere Speicherung von Zugangsdaten bei Containern",
        "A8",
        Assessed,
    ),
    req(
        &SYS_1_6,
        "SYS.1.6.A9",
        S,
        "Suitability for Container Operation",
        "Eignung für Container-Betrieb",
        "",
        Org("organisational: the suitability of each application"),
    ),
    req(
        &SYS_1_6,
        "SYS.1.6.A10",
        S,
        "Policy for Images and Container Operation",
        "Richtlinie für Images und Container-Betrieb",
        "",
        Assessed,
    ),
    mapped(
        req(
            &SYS_1_6,
            "SYS.1.6.A11",
            S,
            "Only One Service per Container",
            "Nur ein Dienst pro Container",
            "A18",
            Assessed,
        ),
        &[GsppMapping {
            source: "SYS.1.6.A11-UA.1",
            relationship: "subset-of",
            control: "ARCH.7.1",
            title: "Dedizierte Hostsysteme für Server",
        }],
    ),
    req(
        &SYS_1_6,
        "SYS.1.6.A12",
        S,
        "Distribution of Secure Images",
        "Verteilung sicherer Images",
        "A7",
        Org("not checked by the operator: documented sources, image metadata and signatures"),
    ),
    req(
        &SYS_1_6,
        "SYS.1.6.A13",
        S,
        "Release of Images",
        "Freigabe von Images",
        "A12",
        Org("organisational: the test and release process of images"),
    ),
    req(
        &SYS_1_6,
        "SYS.1.6.A14",
        S,
        "Updating Images",
        "Aktualisierung von Images",
        "A13",
        Org("organisational: patch and change management of images"),
    ),
    req(
        &SYS_1_6,
        "SYS.1.6.A15",
        S,
        "Limitation of Resources per Container",
        "Limitierung der Ressourcen pro Container",
        "A20",
        Assessed,
    ),
    req(
        &SYS_1_6,
        "SYS.1.6.A16",
        S,
        "Administrative Remote Access to Containers",
        "Administrativer Fernzugriff auf Container",
        "A11",
        Assessed,
    ),
    req(
        &SYS_1_6,
        "SYS.1.6.A17",
        S,
        "Running Containers Without Privileges",
        "Ausführung von Containern ohne Privilegien",
        "A17, A23",
        Assessed,
    ),
    req(
        &SYS_1_6,
        "SYS.1.6.A18",
        S,
        "Application Services Accounts",
        "Accounts der Anwendungsdienste",
        "A16",
        Assessed,
    ),
    req(
        &SYS_1_6,
        "SYS.1.6.A19",
        S,
        "Including Data Stores in Containers",
        "Einbinden von Datenspeichern in Container",
        "A10",
        Assessed,
    ),
    mapped(
        req(
            &SYS_1_6,
            "SYS.1.6.A20",
            S,
            "Protection of Configuration Data",
            "Absicherung von Konfigurationsdaten",
            "",
            Org(
                "organisational: versioning the description of the containers' configuration (the operator records changes to its own objects only)",
            ),
        ),
        &[GsppMapping {
            source: "SYS.1.6.A20-UA.2",
            relationship: "superset-of",
            control: "TEST.2.1",
            title: "Versionshistorie",
        }],
    ),
    req(
        &SYS_1_6,
        "SYS.1.6.A21",
        H,
        "Extended Security Policies",
        "Erweiterte Sicherheitsrichtlinien",
        "A24",
        Assessed,
    ),
    req(
        &SYS_1_6,
        "SYS.1.6.A22",
        H,
        "Provision for Investigations",
        "Vorsorge für Untersuchungen",
        "",
        Org("not checked by the operator: images of the containers' state for investigations"),
    ),
    req(
        &SYS_1_6,
        "SYS.1.6.A23",
        H,
        "Immutable Containers",
        "Unveränderlichkeit der Container",
        "A10",
        Assessed,
    ),
    mapped(
        req(
            &SYS_1_6,
            "SYS.1.6.A24",
            H,
            "Host-Based Attack Detection",
            "Hostbasierte Angriffserkennung",
            "A25",
            Org(
                "host level: monitoring the containers' behaviour needs a runtime detection tool; drift of API objects is not behaviour",
            ),
        ),
        &[GsppMapping {
            source: "SYS.1.6.A24-UA.2",
            relationship: "intersects-with",
            control: "DET.4.6",
            title: "Anomale Nutzung der Anwendung",
        }],
    ),
    req(
        &SYS_1_6,
        "SYS.1.6.A25",
        H,
        "High Availability of Containerised Applications",
        "Hochverfügbarkeit von containerisierten Anwendungen",
        "A26",
        Assessed,
    ),
    req(
        &SYS_1_6,
        "SYS.1.6.A26",
        H,
        "Advanced Isolation and Encapsulation of Containers",
        "Weitergehende Isolation und Kapselung von Containern",
        "",
        Org("not checked by the operator: dedicated hosts, hypervisors"),
    ),
    mapped(
        req(
            &APP_4_4,
            "APP.4.4.A1",
            B,
            "Planning the Separation of the Applications",
            "Planung der Separierung der Anwendungen",
            "",
            Org(PLANNING),
        ),
        &[
            GsppMapping {
                source: "APP.4.4.A1-UA.1",
                relationship: "intersects-with",
                control: "ARCH.7.3",
                title: "Entwicklungs- und Testumgebungen",
            },
            GsppMapping {
                source: "APP.4.4.A1-UA.1",
                relationship: "subset-of",
                control: "TEST.4.1.1.1",
                title: "",
            },
        ],
    ),
    mapped(
        req(
            &APP_4_4,
            "APP.4.4.A2",
            B,
            "Planning Automation with CI/CD",
            "Planung der Automatisierung mit CI/CD",
            "",
            Org(PLANNING),
        ),
        &[GsppMapping {
            source: "APP.4.4.A2-UA.2",
            relationship: "superset-of",
            control: "TEST.3.1.5",
            title: "Testumgebung",
        }],
    ),
    mapped(
        req(
            &APP_4_4,
            "APP.4.4.A3",
            B,
            "Identity and Access Management for Kubernetes",
            "Identitäts- und Berechtigungsmanagement bei Kubernetes",
            "",
            Org("not checked by the operator: authentication and RBAC of the cluster"),
        ),
        &[GsppMapping {
            source: "APP.4.4.A3-UA.6",
            relationship: "subset-of",
            control: "TEST.1.3",
            title: "Einschränkung von Änderungen",
        }],
    ),
    req(
        &APP_4_4,
        "APP.4.4.A4",
        B,
        "Separation of Pods",
        "Separierung von Pods",
        "",
        Assessed,
    ),
    req(
        &APP_4_4,
        "APP.4.4.A5",
        B,
        "Backup in the Cluster",
        "Datensicherung im Cluster",
        "",
        Org("not checked by the operator: backups of the cluster"),
    ),
    req(
        &APP_4_4,
        "APP.4.4.A6",
        S,
        "Initialisation of Pods",
        "Initialisierung von Pods",
        "",
        Org("not checked by the operator: the applications' init containers"),
    ),
    mapped(
        req(
            &APP_4_4,
            "APP.4.4.A7",
            S,
            "Separation of Networks for Kubernetes",
            "Separierung der Netze bei Kubernetes",
            "",
            Assessed,
        ),
        &[GsppMapping {
            source: "APP.4.4.A7-UA.1",
            relationship: "subset-of",
            control: "ARCH.2.1",
            title: "Netzsegmente",
        }],
    ),
    req(
        &APP_4_4,
        "APP.4.4.A8",
        S,
        "Securing Configuration Files on Kubernetes",
        "Absicherung von Konfigurationsdateien bei Kubernetes",
        "",
        Org("organisational: versioning and access rights of the configuration files"),
    ),
    req(
        &APP_4_4,
        "APP.4.4.A9",
        S,
        "Use of Kubernetes Service Accounts",
        "Nutzung von Kubernetes Service-Accounts",
        "",
        Assessed,
    ),
    req(
        &APP_4_4,
        "APP.4.4.A10",
        S,
        "Securing Automation Processes",
        "Absicherung von Prozessen der Automatisierung",
        "",
        Org("organisational: the rights of automation processes"),
    ),
    req(
        &APP_4_4,
        "APP.4.4.A11",
        S,
        "Container Monitoring",
        "Überwachung der Container",
        "",
        Assessed,
    ),
    req(
        &APP_4_4,
        "APP.4.4.A12",
        S,
        "Securing Infrastructure Applications",
        "Absicherung der Infrastruktur-Anwendungen",
        "",
        Org("not checked by the operator: registries and other infrastructure applications"),
    ),
    req(
        &APP_4_4,
        "APP.4.4.A13",
        H,
        "Automated Configuration Auditing",
        "Automatisierte Auditierung der Konfiguration",
        "A21",
        Assessed,
    ),
    req(
        &APP_4_4,
        "APP.4.4.A14",
        H,
        "Use of Dedicated Nodes",
        "Verwendung dedizierter Nodes",
        "",
        Org("not checked by the operator: the nodes' tasks"),
    ),
    mapped(
        req(
            &APP_4_4,
            "APP.4.4.A15",
            H,
            "Separation of Applications at Node and Cluster Level",
            "Trennung von Anwendungen auf Node- und Cluster-Ebene",
            "",
            Org("organisational: clusters or dedicated nodes per application"),
        ),
        &[
            GsppMapping {
                source: "APP.4.4.A15-UA.1",
                relationship: "subset-of",
                control: "ARCH.7.1",
                title: "Dedizierte Hostsysteme für Server",
            },
            GsppMapping {
                source: "APP.4.4.A15-UA.1",
                relationship: "subset-of",
                control: "KONF.6.1.2",
                title: "Isolierung von Anwendungen",
            },
        ],
    ),
    req(
        &APP_4_4,
        "APP.4.4.A16",
        H,
        "Use of Operators",
        "Verwendung von Operatoren",
        "",
        Org("organisational: operators for critical applications"),
    ),
    req(
        &APP_4_4,
        "APP.4.4.A17",
        H,
        "Attestation of Nodes",
        "Attestierung von Nodes",
        "",
        Org("host level: node attestation"),
    ),
    mapped(
        req(
            &APP_4_4,
            "APP.4.4.A18",
            H,
            "Use of Micro-Segmentation",
            "Verwendung von Mikro-Segmentierung",
            "",
            Assessed,
        ),
        &[GsppMapping {
            source: "APP.4.4.A18-UA.3",
            relationship: "subset-of",
            control: "ARCH.2.2",
            title: "Einschränkung von Verbindungen zwischen Segmenten",
        }],
    ),
    req(
        &APP_4_4,
        "APP.4.4.A19",
        H,
        "High Availability of Kubernetes",
        "Hochverfügbarkeit von Kubernetes",
        "",
        Assessed,
    ),
    req(
        &APP_4_4,
        "APP.4.4.A20",
        H,
        "Encrypted Data Storage for Pods",
        "Verschlüsselte Datenhaltung bei Pods",
        "",
        Org("host level: encryption of etcd and of persistent volumes"),
    ),
    req(
        &APP_4_4,
        "APP.4.4.A21",
        H,
        "Regular Restart of Pods",
        "Regelmäßiger Restart von Pods",
        "",
        Org("not checked by the operator: the age of pods"),
    ),
];

/// The requirement with `id` (`SYS.1.6.A5`).
pub fn requirement(id: &str) -> Option<&'static Requirement> {
    REQUIREMENTS.iter().find(|r| r.id == id)
}

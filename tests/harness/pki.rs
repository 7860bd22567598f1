//! Certificates and keys for one local control plane, generated in-process.
//!
//! rustls only accepts X.509 v3 certificates with proper extensions, which rcgen makes by
//! default; the admin and the controller manager authenticate with bearer tokens. The API
//! server presents a client certificate only to kubelets (`kubectl logs`/`exec` on the test
//! node).

use std::net::{IpAddr, Ipv4Addr};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// PEM-encoded material the processes read from files.
pub struct Pki {
    pub ca_cert: String,
    pub ca_key: String,
    pub serving_cert: String,
    pub serving_key: String,
    /// The API server's client certificate towards kubelets (group `system:masters`).
    pub kubelet_client_cert: String,
    pub kubelet_client_key: String,
    /// Signs service account tokens (PKCS#8).
    pub service_account_key: String,
    /// Verifies them: kube-apiserver reads only public keys from `--service-account-key-file`.
    pub service_account_public_key: String,
}

impl Pki {
    /// `extra_ips`: addresses besides 127.0.0.1 that the serving certificate carries (where
    /// a test node's pods reach the API server).
    pub fn generate(extra_ips: &[IpAddr]) -> Result<Self, rcgen::Error> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "hardening-test-ca");
        let ca_cert = ca_params.self_signed(&ca_key)?;

        let serving_key = KeyPair::generate()?;
        let mut serving = CertificateParams::new(vec![
            "localhost".to_string(),
            "kubernetes".to_string(),
            "kubernetes.default.svc".to_string(),
        ])?;
        serving
            .subject_alt_names
            .push(rcgen::SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        for ip in extra_ips {
            serving
                .subject_alt_names
                .push(rcgen::SanType::IpAddress(*ip));
        }
        serving
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        serving.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let issuer = Issuer::new(ca_params, &ca_key);
        let serving_cert = serving.signed_by(&serving_key, &issuer)?;

        let kubelet_client_key = KeyPair::generate()?;
        let mut kubelet_client = CertificateParams::new(Vec::<String>::new())?;
        kubelet_client
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver-kubelet-client");
        kubelet_client
            .distinguished_name
            .push(DnType::OrganizationName, "system:masters");
        kubelet_client.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        kubelet_client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let kubelet_client_cert = kubelet_client.signed_by(&kubelet_client_key, &issuer)?;

        let service_account = KeyPair::generate()?;
        Ok(Self {
            ca_cert: ca_cert.pem(),
            ca_key: ca_key.serialize_pem(),
            serving_cert: serving_cert.pem(),
            serving_key: serving_key.serialize_pem(),
            kubelet_client_cert: kubelet_client_cert.pem(),
            kubelet_client_key: kubelet_client_key.serialize_pem(),
            service_account_public_key: service_account.public_key_pem(),
            service_account_key: service_account.serialize_pem(),
        })
    }
}

//! The emulator's certificates, made at start: a CA (written to a file for clients to trust) and
//! a server certificate for 127.0.0.1 and localhost signed by it (protocol doc §3.1).
//!
//! The extensions are the ones strict verifiers insist on: the CA has a critical
//! `basicConstraints CA:TRUE` and a critical `keyUsage keyCertSign, cRLSign`; the server
//! certificate has `extendedKeyUsage serverAuth` and SANs IP:127.0.0.1 and DNS:localhost (a client
//! that connects to the IP literal checks the IP SAN). Keys are ECDSA P-256 made with ring.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use std::sync::Arc;

/// What the emulator serves TLS with.
pub(crate) struct Pki {
    /// The CA certificate, PEM: what clients are told to trust.
    pub ca_pem: String,
    /// The server side of TLS 1.2 and 1.3 with the server certificate (ring provider).
    pub server: Arc<rustls::ServerConfig>,
}

#[derive(Debug, thiserror::Error)]
#[error("the emulator's certificates could not be made: {0}")]
pub(crate) struct PkiError(String);

/// A fresh CA and server certificate, valid from a day ago for a year (a clock that is a little
/// off must not break the handshake), with a TLS server configuration around them.
pub(crate) fn generate() -> Result<Pki, PkiError> {
    let err = |e: rcgen::Error| PkiError(e.to_string());
    let now = time::OffsetDateTime::now_utc();
    let validity = |p: &mut CertificateParams| {
        p.not_before = now - time::Duration::days(1);
        p.not_after = now + time::Duration::days(365);
    };

    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.distinguished_name = name("Tether Navien cloud emulator CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut ca);
    let ca_key = KeyPair::generate().map_err(err)?;
    let ca = CertifiedIssuer::self_signed(ca, ca_key).map_err(err)?;

    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).map_err(err)?;
    leaf.distinguished_name = name("127.0.0.1");
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    validity(&mut leaf);
    let leaf_key = KeyPair::generate().map_err(err)?;
    let cert = leaf.signed_by(&leaf_key, &ca).map_err(err)?;

    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let chain = vec![cert.der().clone(), ca.der().clone()];
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| PkiError(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| PkiError(e.to_string()))?;
    // ALPN is optional for clients (§3.1); when offered, HTTP/1.1 is the only thing spoken here.
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Pki {
        ca_pem: ca.pem(),
        server: Arc::new(server),
    })
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "Tether");
    dn
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client that trusts only the written CA completes a handshake for 127.0.0.1 (the IP SAN)
    /// and for localhost, over real TLS on loopback.
    #[tokio::test]
    async fn a_client_trusting_the_ca_accepts_the_server_for_the_ip_and_for_localhost() {
        let pki = generate().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(pki.server.clone());
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    use tokio::io::AsyncWriteExt;
                    if let Ok(mut tls) = acceptor.accept(sock).await {
                        let _ = tls.write_all(b"hi").await;
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        let mut roots = rustls::RootCertStore::empty();
        let mut pem = pki.ca_pem.as_bytes();
        for c in rustls_pemfile::certs(&mut pem) {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        for host in ["127.0.0.1", "localhost"] {
            use tokio::io::AsyncReadExt;
            let sock = tokio::net::TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from(host.to_string()).unwrap();
            let mut tls = connector.connect(name, sock).await.unwrap_or_else(|e| panic!("{host}: {e}"));
            let mut got = Vec::new();
            let _ = tls.read_to_end(&mut got).await;
            assert_eq!(got, b"hi", "{host}");
        }
        // And a name the certificate does not carry is refused.
        let sock = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("example.com".to_string()).unwrap();
        assert!(connector.connect(name, sock).await.is_err());
    }

    #[test]
    fn the_ca_pem_is_one_certificate() {
        let pki = generate().unwrap();
        assert!(pki.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(pki.ca_pem.matches("BEGIN CERTIFICATE").count(), 1);
    }
}

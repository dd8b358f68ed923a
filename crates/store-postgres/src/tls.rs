//! TLS to the server, asked for in the connection string as libpq does: `sslmode=require`
//! (encrypted; the server's certificate is not checked, as libpq does without a root
//! certificate) or `sslmode=verify-full` (encrypted; the certificate chain is verified against
//! `sslrootcert=FILE`, PEM, and the certificate must name the host connected to). Without
//! `sslmode`, or with `disable` or `prefer`, connections are not encrypted (this build offers no
//! TLS unless asked). `verify-ca` and `allow` are refused: they are not implemented.

use std::sync::Arc;

use opsledger_store::StoreError;
use postgres::Client;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// How connections are made: in clear, or through TLS with this client configuration.
#[derive(Clone)]
pub(crate) enum Tls {
    /// No TLS from this side.
    Off,
    /// TLS required (the connection string's `sslmode` is handed to the driver as `require`).
    On(Arc<rustls::ClientConfig>),
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tls::Off => "Tls::Off",
            Tls::On(_) => "Tls::On",
        })
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Takes `sslmode` and `sslrootcert` out of `url` (the driver knows neither `verify-full` nor
/// `sslrootcert`): the URL for the driver (with `sslmode=require` when TLS is on) and how to
/// connect. A mode that is not implemented, or a root certificate file that cannot be read, is
/// [`StoreError::InvalidConfig`].
pub(crate) fn split_tls(url: &str) -> Result<(String, Tls), StoreError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), Tls::Off));
    };
    let mut mode = None;
    let mut root = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", value)) => mode = Some(value.to_owned()),
            Some(("sslrootcert", value)) => root = Some(value.to_owned()),
            _ => kept.push(pair.to_owned()),
        }
    }
    let invalid =
        |why: String| StoreError::InvalidConfig(format!("PostgreSQL connection string: {why}"));
    let tls = match mode.as_deref() {
        None | Some("disable" | "prefer") => {
            if let Some(mode) = &mode {
                kept.push(format!("sslmode={mode}"));
            }
            if root.is_some() {
                return Err(invalid(
                    "sslrootcert is only used with sslmode=verify-full".into(),
                ));
            }
            Tls::Off
        }
        Some("require") => {
            if root.is_some() {
                return Err(invalid(
                    "sslrootcert is only used with sslmode=verify-full (require does not check \
                     the server's certificate)"
                        .into(),
                ));
            }
            Tls::On(Arc::new(
                rustls::ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| invalid(format!("TLS: {e}")))?
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(Unchecked(provider())))
                    .with_no_client_auth(),
            ))
        }
        Some("verify-full") => {
            let Some(root) = root else {
                return Err(invalid(
                    "sslmode=verify-full needs sslrootcert=FILE (the PEM certificate of the \
                     authority that signed the server's)"
                        .into(),
                ));
            };
            let mut roots = rustls::RootCertStore::empty();
            let certificates = CertificateDer::pem_file_iter(&root)
                .map_err(|e| invalid(format!("sslrootcert {root}: {e}")))?;
            for certificate in certificates {
                let certificate =
                    certificate.map_err(|e| invalid(format!("sslrootcert {root}: {e}")))?;
                roots
                    .add(certificate)
                    .map_err(|e| invalid(format!("sslrootcert {root}: {e}")))?;
            }
            if roots.is_empty() {
                return Err(invalid(format!("sslrootcert {root} holds no certificate")));
            }
            Tls::On(Arc::new(
                rustls::ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| invalid(format!("TLS: {e}")))?
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
            ))
        }
        Some(other) => {
            return Err(invalid(format!(
                "sslmode={other} is not supported (disable, prefer, require or verify-full)"
            )));
        }
    };
    if matches!(tls, Tls::On(_)) {
        kept.push("sslmode=require".into());
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, tls))
}

/// Connects with `config` as `tls` says.
pub(crate) fn connect(config: &postgres::Config, tls: &Tls) -> Result<Client, postgres::Error> {
    match tls {
        Tls::Off => config.connect(postgres::NoTls),
        Tls::On(client) => config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(
            client.as_ref().clone(),
        )),
    }
}

/// `sslmode=require`: any certificate is accepted (the handshake's signatures are still
/// checked), as libpq does in that mode.
#[derive(Debug)]
struct Unchecked(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

//! The HTTP transport: a blocking client (reqwest) with a connect and a total timeout, no
//! redirects, no proxy from the environment, and a resolver that refuses a host name whose
//! addresses include a link-local, metadata or unspecified one (checked again at every
//! delivery: a name that resolved to a public address when the subscription was created may
//! not later lead to the metadata service).
//!
//! `https://` receivers are spoken to over TLS (rustls), their certificates verified against
//! the system's certificate store; a receiver whose certificate does not verify is an attempt
//! that failed.

use super::worker::{WebhookRequest, WebhookTransport};
use opsledger_core::webhook::address_refused;
use opsledger_core::webhook::delivery::AttemptResult;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// Resolves with the system resolver and refuses unsafe addresses.
#[derive(Debug)]
struct CheckedResolver;

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = (host.as_str(), 0).to_socket_addrs()?.collect();
            if let Some((addr, reason)) = addrs
                .iter()
                .find_map(|a| address_refused(a.ip()).map(|r| (a, r)))
            {
                return Err(format!("{host} resolves to {}, {reason}: refused", addr.ip()).into());
            }
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no address").into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Sends webhook requests over HTTP.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::blocking::Client,
}

impl HttpTransport {
    /// A transport with these timeouts: `connect` for the TCP connection, `total` for the
    /// whole request (a slow receiver is an attempt that failed; it never holds the worker
    /// longer).
    pub fn new(connect: Duration, total: Duration) -> Result<Self, String> {
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(connect)
            .timeout(total)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { client })
    }
}

impl WebhookTransport for HttpTransport {
    fn send(&self, request: &WebhookRequest) -> AttemptResult {
        // A literal address in the URL skips the resolver: check it here too.
        if let Ok(url) = opsledger_core::webhook::check_url(&request.url)
            && let opsledger_core::webhook::UrlHost::Ip(ip) = url.host
            && let Some(reason) = address_refused(ip)
        {
            return AttemptResult::Failed {
                status: None,
                error: format!("{ip} is {reason}: refused"),
                permanent: true,
            };
        }
        let mut builder = self.client.post(&request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        match builder.body(request.body.clone()).send() {
            Ok(response) => {
                let status = response.status().as_u16();
                // Read (a little of) the answer so the connection can be reused; its content
                // does not matter.
                let _ = response.bytes();
                if (200..300).contains(&status) {
                    AttemptResult::Delivered { status }
                } else {
                    AttemptResult::Failed {
                        status: Some(status),
                        error: format!("the receiver answered {status}"),
                        permanent: false,
                    }
                }
            }
            Err(e) => {
                let what = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "could not connect"
                } else {
                    "request failed"
                };
                let mut source: Option<&dyn std::error::Error> = Some(&e);
                let mut chain = Vec::new();
                while let Some(s) = source {
                    chain.push(s.to_string());
                    source = s.source();
                }
                let text = chain.join(": ");
                let permanent = text.contains("refused") && text.contains("resolves to");
                AttemptResult::Failed {
                    status: None,
                    error: format!("{what}: {text}"),
                    permanent,
                }
            }
        }
    }
}
